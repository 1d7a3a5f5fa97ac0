"""Speculative decoding: greedy output is the target's greedy output token for token; sampled tokens follow the
target's distribution (chi-square against the exact two-token law, and the same test rejects the draft's own law);
samples depend on their seed alone; the ledger books draft and target separately; and a `ttc` run records it."""


import pytest
import torch
from hydra import compose, initialize_config_dir
from scipy.stats import chisquare

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import SamplingParams, ledger_of
from ttc.generators.hf.sampling import truncate
from ttc.generators.speculative import SpeculativeGenerator
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.tasks.arith import make_problem, prompt
from ttc.contracts.rundir import read_samples

PROMPTS = [prompt(make_problem("test", level, i)) for level in (2, 4, 5) for i in range(3)]
GREEDY = SamplingParams(temperature=0.0, max_tokens=80)
ALPHA = 0.001  # significance level of the distribution test


@pytest.fixture(scope="module")
def sd():
    return SpeculativeGenerator("tiny-1m", "tiny-0.3m", k=3, max_batch_rows=1024)


def test_greedy_speculation_is_the_target_s_greedy_decoding_and_is_booked_per_model(sd):
    ours = sd.generate(PROMPTS, GREEDY, [[0]] * len(PROMPTS))
    theirs = sd.target.generate(PROMPTS, GREEDY, [[0]] * len(PROMPTS))
    assert [r[0].text for r in ours] == [r[0].text for r in theirs]
    for [c], [t] in zip(ours, theirs):
        assert c.generated_tokens == t.generated_tokens
        assert c.token_logprobs == pytest.approx(t.token_logprobs, abs=1e-4)  # the target's own log-probabilities
        rounds = c.target_forwards - 1  # its prefill, then one verification per round
        assert c.drafted_tokens == 3 * rounds and 0 <= c.accepted_tokens <= c.drafted_tokens
        # each round commits its accepted drafts and one token of the target's (the last round may stop early)
        assert c.generated_tokens <= c.accepted_tokens + rounds
        assert c.generated_tokens > c.accepted_tokens + rounds - 4
        assert 0 < c.draft_flops < c.flops - c.draft_flops  # the draft is the cheap model
        assert c.flops - c.draft_flops > t.flops  # the target reads k + 1 positions per round
    ledger = ledger_of([r[0] for r in ours])
    assert ledger.drafted_tokens == sum(r[0].drafted_tokens for r in ours) > ledger.accepted_tokens > 0
    assert ledger.draft_flops == pytest.approx(sum(r[0].draft_flops for r in ours))


def test_samples_depend_on_their_seed_alone(sd):
    params = SamplingParams(temperature=1.0, max_tokens=40)
    a = sd.generate(PROMPTS[:3], params, [[1, 2], [1, 2], [3]])
    b = sd.generate([PROMPTS[2], PROMPTS[0], PROMPTS[1]], params, [[3], [2, 1], [1, 2]])
    text = lambda r, j: r[j].text
    assert [text(a[0], 0), text(a[0], 1), text(a[1], 0), text(a[1], 1), text(a[2], 0)] == \
        [text(b[1], 1), text(b[1], 0), text(b[2], 0), text(b[2], 1), text(b[0], 0)]
    assert len({c.text for r in a for c in r}) > 1


def _two_token_law(gen, text: str, params: SamplingParams) -> dict[tuple[int, int], float]:
    """The target's exact probability of each first-two-token sequence under `params`."""
    ids = gen.encode(text)
    with torch.no_grad():
        first = truncate(gen.target.model(torch.tensor([ids])).logits[0, -1:].float(), params).softmax(-1)[0]
        law = {}
        for t1 in first.nonzero()[:, 0].tolist():
            second = truncate(gen.target.model(torch.tensor([ids + [t1]])).logits[0, -1:].float(), params)
            for t2, p2 in enumerate(second.softmax(-1)[0].tolist()):
                if p2 > 0:
                    law[(t1, t2)] = float(first[t1]) * p2
    return law


def _counts(gen, text: str, params: SamplingParams, draws: int) -> dict[tuple[int, int], int]:
    [row] = gen.generate([text], params, [list(range(draws))])
    counts: dict[tuple[int, int], int] = {}
    for c in row:
        key = tuple(gen.encode(c.text, special=False)[:2])
        counts[key] = counts.get(key, 0) + 1
    return counts


def _p_value(law: dict, counts: dict, draws: int) -> float:
    """Pearson's chi-square p-value; cells expecting fewer than 5 draws are pooled (the test's usual condition)."""
    if not set(counts) <= set(law):
        return 0.0  # a sequence the target's law gives probability 0 was drawn
    total = sum(law.values())
    expected = {c: draws * p / total for c, p in law.items()}
    big = [c for c in sorted(law) if expected[c] >= 5]
    rest = [c for c in law if c not in big]
    observed = [counts.get(c, 0) for c in big] + ([sum(counts.get(c, 0) for c in rest)] if rest else [])
    want = [expected[c] for c in big] + ([sum(expected[c] for c in rest)] if rest else [])
    return chisquare(observed, want).pvalue


def test_sampled_tokens_follow_the_target_s_distribution_not_the_draft_s(sd):
    """Two tokens at temperature 1, top-k 3 (9 cells), 4,000 seeds: the speculative draws fit the target's exact
    law at ALPHA; the draft's own draws (what accepting every proposal would give) are rejected at the same level."""
    text = PROMPTS[4][:20]  # a question's first words, where the models hesitate (and disagree: TV ~0.8)
    params = SamplingParams(temperature=1.0, top_k=3, max_tokens=2)
    law, draws = _two_token_law(sd, text, params), 4000
    assert len(law) == 9 and sum(law.values()) == pytest.approx(1) and max(law.values()) < 0.9
    assert _p_value(law, _counts(sd, text, params, draws), draws) > ALPHA
    assert _p_value(law, _counts(sd.draft, text, params, draws), draws) < ALPHA


def test_greedy_speculation_runs_from_ttc_and_its_lines_record_the_acceptance(tmp_path):
    overrides = ["task.levels=[1,3,5]", "task.per_level=4", "verifier=none", "logger=none", "strategy=greedy",
                 "strategy.max_tokens=100"]

    def run(name, extra):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*overrides, *extra])
        rows = execute(cfg, tmp_path / name, quiet=True)
        return {r["level"]: r["accuracy"] for r in rows if r["series"] == "greedy"}, tmp_path / name

    ours, out = run("sd", ["generator=speculative", "generator.target=tiny-1m", "generator.k=3"])
    theirs, _ = run("target", ["generator.model=tiny-1m"])
    assert ours == theirs  # the same texts, so the same grades at every level
    lines = read_samples(out)
    spec = [x["speculation"] for x in lines]
    assert all(s["drafted"] > 0 and s["acceptance_rate"] == pytest.approx(s["accepted"] / s["drafted"], abs=1e-6)
               for s in spec)
    assert all(x["ledger"]["draft_flops"] == pytest.approx(s["draft_flops"]) for x, s in zip(lines, spec))
    with pytest.raises(ConfigError, match="generator.k=0 must be at least 1"):
        SpeculativeGenerator(k=0)

