"""Noisy-channel reranking: the score is the length-normalised direct plus lambda times the reverse
log-likelihood, read from the judge's scoring call with every token counted; it reranks a pool from ttc."""

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.tasks.arith import make_problem, prompt
from ttc.verifiers.noisy_channel import NoisyChannelVerifier


def test_the_score_is_direct_plus_lambda_channel_per_token(small):
    x = prompt(make_problem("test", 2, 0))
    sols = ["1. 4+3=7\nAnswer: 7\n", "Answer: 9\n"]
    v = NoisyChannelVerifier(small, lam=0.5)
    [verdicts] = v.verify([x], [sols])
    for s, got in zip(sols, verdicts):
        [d] = small.score([x], [s])
        [c] = small.score([f"{s}\n\nThe question was:\n"], [x])
        want = d.logprob / len(d.token_logprobs) + 0.5 * c.logprob / len(c.token_logprobs)
        assert got.score == pytest.approx(want, abs=1e-5)
        assert got.tokens == d.tokens + c.tokens and got.flops == pytest.approx(d.flops + c.flops)
    [[only]] = NoisyChannelVerifier(small, lam=0.0).verify([x], [sols[:1]])
    [d] = small.score([x], sols[:1])
    assert only.score == pytest.approx(d.logprob / len(d.token_logprobs), abs=1e-5)
    with pytest.raises(ConfigError, match="verifier.reverse has no {solution} field"):
        NoisyChannelVerifier(small, reverse="The question was:")


def test_noisy_channel_reranks_a_pool_from_ttc(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.levels=[2,4]", "task.per_level=4", "strategy=best_of_n",
                                                       "strategy.n=4", "verifier=noisy_channel", "logger=none"])
    rows = {(r["series"], r["budget"]): r for r in execute(cfg, tmp_path / "nc", quiet=True) if r["level"] == "all"}
    assert rows["best_of_n", 4]["verifier"] == "tiny-0.3m-channel-l1"
    assert rows["best_of_n", 4]["flops_per_problem"] > rows["majority", 4]["flops_per_problem"]  # the reads count
