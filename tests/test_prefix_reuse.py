"""Prefix reuse across a search's rounds: reused reads give the scores and texts of fresh reads, the ledger
splits fresh from reused tokens exactly (fresh + reused = what a fresh read costs), nothing is kept outside the
block, and PRM beam search through ttc reads ~6x fewer verifier tokens for the same search."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ttc.contracts.records import SamplingParams
from ttc.generators.hf import HFGenerator
from ttc.harness.cli import CONF_DIR
from ttc.tasks.arith import make_problem, prompt
from ttc.tasks.arith_task import ArithTask

PROMPTS = [prompt(make_problem("test", level, i)) for level in (3, 5) for i in range(3)]


@pytest.fixture(scope="module")
def judge():
    return HFGenerator("tiny-prm")


def test_reused_reads_score_as_fresh_reads_and_are_booked_apart(judge):
    first = [p + "1. 3+4=7\nCheck 1:" for p in PROMPTS]
    second = [p + "1. 3+4=7\n2. 7-2=5\nCheck 2:" for p in PROMPTS]  # shares prompt + step 1 with `first`
    fresh = judge.score_branches(second, [" yes", " no"])
    with judge.prefix_caching():
        judge.score_branches(first, [" yes", " no"])
        reused = judge.score_branches(second, [" yes", " no"])
    assert judge._store is None  # nothing kept outside the block
    for f, r, p in zip(fresh, reused, PROMPTS):
        assert [x.logprob for x in r] == pytest.approx([x.logprob for x in f], abs=1e-4)
        hit = len(judge.encode(p + "1. 3+4=7\n"))  # the prompt and step 1, up to where the queries part
        assert r[0].cached_tokens == hit and r[0].tokens + r[0].cached_tokens == f[0].tokens
        assert r[0].flops < f[0].flops and r[1].tokens == f[1].tokens


def test_a_prefix_shared_within_one_call_is_read_once_and_booked_once(judge):
    steps = ["1. 3+4=7\nCheck 1:", "1. 9-4=5\nCheck 1:", "1. 2*3=6\nCheck 1:", "1. 8+1=9\nCheck 1:"]
    queries = [p + s for p in PROMPTS[:3] for s in steps]  # a search's first round: candidates repeat the prompt
    plain = judge.score_branches(queries, [" yes", " no"])
    fed = []
    forward = judge.model.forward
    judge.model.forward = lambda *a, **k: fed.append(k["input_ids"].shape) or forward(*a, **k)
    try:
        with judge.prefix_caching():
            shared = judge.score_branches(queries, [" yes", " no"])
    finally:
        judge.model.forward = forward
    assert len(fed) == 2 and fed[0][0] == 3  # the 3 prompts first, then every row's own part
    for s, f in zip(shared, plain):
        assert [x.logprob for x in s] == pytest.approx([x.logprob for x in f], abs=1e-4)
    for k, p in enumerate(PROMPTS[:3]):
        rows = shared[4 * k: 4 * k + 4]
        hit = len(judge.encode(p + "1. "))  # the run's common part: the steps differ from their first number on
        paid = [r[0].cached_tokens for r in rows]
        assert sorted(paid) == [0, hit, hit, hit]  # one row pays for the prompt, the others reuse it
        assert sum(r[0].tokens + r[0].cached_tokens for r in rows) == sum(f[0].tokens for f in plain[4 * k: 4 * k + 4])
        assert sum(r[0].tokens for r in rows) == sum(f[0].tokens for f in plain[4 * k: 4 * k + 4]) - 3 * hit


def test_generation_from_reused_prefixes_gives_the_same_text(judge):
    gen = HFGenerator("tiny-1m")
    greedy = SamplingParams(temperature=0.0, max_tokens=60)
    longer = [p + "1. " for p in PROMPTS]
    plain = gen.generate(longer, greedy, [[0, 1]] * len(longer))
    with gen.prefix_caching():
        gen.generate(PROMPTS, greedy, [[0]] * len(PROMPTS))
        again = gen.generate(longer, greedy, [[0, 1]] * len(longer))
    assert [[c.text for c in r] for r in again] == [[c.text for c in r] for r in plain]
    for a, b, p in zip(again, plain, PROMPTS):
        assert a[0].cached_tokens == len(gen.encode(p)) and b[0].cached_tokens == 0  # the earlier call's prompt
        assert a[0].flops < b[0].flops and a[1].flops == pytest.approx(b[1].flops)


def test_prm_beam_search_reads_only_each_round_s_new_tokens(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["verifier=tiny_prm", "strategy=prm_beam", "strategy.n=8",
                                                       "strategy.width=2", "generator.model=tiny-0.3m"])
    strategy, generator = instantiate(cfg.strategy), instantiate(cfg.generator)
    verifier = instantiate(cfg.verifier, judge={"_target_": "ttc.generators.hf.HFGenerator", "model": "tiny-prm"})
    problems = [p.public() for p in ArithTask(levels=[3, 5], per_level=2).problems()]
    extract = ArithTask().extract
    reused = strategy.run(problems, generator, verifier, extract, 0)
    fresh = type(strategy).run.__wrapped__(strategy, problems, generator, verifier, extract, 0)
    for r, f in zip(reused, fresh):
        assert [c.completion.text for c in r.candidates] == [c.completion.text for c in f.candidates]
        pick_r, pick_f = r.candidates[r.selected], f.candidates[f.selected]  # the same, or tied to rounding
        assert r.selected == f.selected or abs(pick_r.verdict.score - pick_f.verdict.score) < 1e-4
        assert [c.verdict.score for c in r.candidates] == pytest.approx([c.verdict.score for c in f.candidates],
                                                                        abs=1e-4)
        assert r.ledger.verifier_tokens + r.ledger.verifier_cached_tokens == f.ledger.verifier_tokens
        assert r.ledger.verifier_tokens * 3 < f.ledger.verifier_tokens and f.ledger.verifier_cached_tokens == 0
        assert r.ledger.generated_tokens == f.ledger.generated_tokens
        assert r.ledger.prompt_tokens + r.ledger.cached_tokens == f.ledger.prompt_tokens + f.ledger.cached_tokens
