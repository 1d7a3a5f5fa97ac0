"""DeepConf: group and trace confidence, the online stopping point, offline filtering and confidence-weighted
votes, an honest ledger for emulated early stopping, the HF generator's token confidence, and a tiny-world
run against majority at the same n."""

import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Completion, Problem, SamplingParams
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.contracts.rules import vote as weighted_vote
from ttc.strategies.deepconf import DeepConf, group_confidence, stop_point, trace_confidence
from ttc.tasks.arith import extract_answer
from ttc.contracts.rundir import read_samples


def test_group_and_trace_confidence_and_the_stopping_point():
    conf = [5, 5, 5, 1, 1, 5, 5, 5]
    assert group_confidence(conf, 2).tolist() == [5, 5, 3, 1, 3, 5, 5]
    assert trace_confidence(conf, 2, "lowest") == 1.0 and trace_confidence(conf, 3, "tail") == 5.0
    assert trace_confidence([2, 4], 8, "lowest") == 3.0  # shorter than a window: its mean
    assert stop_point(conf, 2, 2.0) == 5  # the window ending at token 5 (tokens 4-5) falls below 2
    assert stop_point(conf, 2, 0.5) is None
    assert weighted_vote(["1", "2", "2", None], [5.0, 2.0, 2.0, 9.0], 0, "p") == "1"
    assert weighted_vote([None], [1.0], 0, "p") is None


class Confident:
    """A fake generator: sample k answers k % 2, with token confidence 9 (sure) for even k, 1 for odd k."""

    name = "fake"

    def generate(self, prompts, params, seeds):
        assert params.confidence_k == 5
        out = []
        for row in seeds:
            cs = []
            for j, _ in enumerate(row):
                c = 9.0 if j % 2 == 0 else 1.0
                cs.append(Completion(index=j, seed=j, text=f"Answer: {j % 2}\n", prompt_tokens=4, cached_tokens=0,
                                     generated_tokens=20, logprob=-1.0, finish_reason="stop", flops=120.0,
                                     prompt_flops=20.0, token_confidence=(c,) * 20))
            out.append(cs)
        return out


P = [Problem("p", "Q\n", "0")]


def test_offline_keeps_the_confident_share_and_weights_their_votes():
    [r] = DeepConf(n=8, keep=0.5, window=4).run(P, Confident(), None, extract_answer, seed=0)
    votes = [c.info["votes"] for c in r.candidates]
    assert votes == [True, False] * 4 and r.candidates[r.selected].answer == "0"
    assert r.ledger.generated_tokens == 160 and r.ledger.pruned_flops == 0.0
    [all_vote] = DeepConf(n=8, keep=1.0, window=4).run(P, Confident(), None, extract_answer, seed=0)
    assert all(c.info["votes"] for c in all_vote.candidates) and all_vote.candidates[all_vote.selected].answer == "0"


def test_online_stops_unsure_traces_and_books_their_tail_as_waste():
    [r] = DeepConf(n=8, mode="online", keep=0.5, warmup=2, window=4).run(P, Confident(), None, extract_answer, 0)
    # warm-up confidences 9 and 1: threshold = their median, 5; later odd traces fall below at their 4th token
    stops = [c.info.get("stopped_at") for c in r.candidates]
    assert stops == [None, None, None, 4, None, 4, None, 4]
    kept = 2 * 20 + 3 * 20 + 3 * 4
    assert r.ledger.generated_tokens == kept
    assert r.ledger.generator_flops == pytest.approx(5 * 120 + 3 * (20 + 100 * 4 / 20))
    assert r.ledger.pruned_flops == pytest.approx(3 * 100 * 16 / 20)
    assert r.candidates[r.selected].answer == "0"
    with pytest.raises(ConfigError, match="strategy.mode=stream is not valid"):
        DeepConf(mode="stream")


def test_the_hf_generator_reports_top_k_token_confidence(small):
    prompt = "Q: Ann has 5 apples. Ann gets 3 more. How many apples does Ann have?\nA:\n"
    [[c]] = small.generate([prompt], SamplingParams(temperature=0.0, max_tokens=6, confidence_k=3), [[0]])
    [[plain]] = small.generate([prompt], SamplingParams(temperature=0.0, max_tokens=6), [[0]])
    assert c.text == plain.text and plain.token_confidence == () and len(c.token_confidence) == c.generated_tokens
    ids = small.encode(prompt)
    with torch.no_grad():
        logits = small.model(torch.tensor([ids])).logits[0, -1].float()
    want = -torch.log_softmax(logits, -1).topk(3).values.mean().item()
    assert c.token_confidence[0] == pytest.approx(want, rel=1e-4)
    assert all(math.isfinite(x) and x > 0 for x in c.token_confidence)


def test_deepconf_on_the_tiny_world_beside_majority(tmp_path):
    def run(name, overrides):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=["task.levels=[1,3,5]", "task.per_level=6", "verifier=none",
                                                           "logger=none", "strategy.n=16", *overrides])
        rows = execute(cfg, tmp_path / name, quiet=True)
        return {r["series"]: r for r in rows if r["level"] == "all" and r["budget"] == 16}

    base = run("majority", ["strategy=majority"])["majority"]
    offline = run("off", ["strategy=deepconf"])["deepconf_offline"]
    online = run("on", ["strategy=deepconf", "strategy.mode=online", "strategy.keep=0.5"])["deepconf_online"]
    lines = read_samples(tmp_path / "off")
    assert np.mean([x["info"]["votes"] for x in lines]) == pytest.approx(0.9, abs=0.07)  # keep=0.9
    assert offline["gen_tokens_per_problem"] == pytest.approx(base["gen_tokens_per_problem"])  # the same 16 traces
    assert online["gen_tokens_per_problem"] < base["gen_tokens_per_problem"]
    # measured here (18 problems): majority@16, offline and online all 0.667; online spends 729 generated tokens
    # per problem against 835 (-13%)
    assert online["accuracy"] >= base["accuracy"] - 0.12


def test_online_stops_only_at_a_full_window_before_the_trace_ends():
    assert stop_point([1.0, 1.0, 1.0], 16, 5.0) is None  # shorter than a window: never checked
    assert stop_point([5, 5, 5, 5, 1, 1], 2, 2.0) is None  # the only low window ends the trace: nothing saved
    assert stop_point([5, 1, 1, 5, 5], 2, 2.0) == 3
    with pytest.raises(ConfigError, match="strategy.measure=tail cannot stop traces online"):
        DeepConf(mode="online", measure="tail")
