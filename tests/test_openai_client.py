"""The OpenAI-compatible client against a real HTTP server over the tiny model, started by the test."""


import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.generators.openai_client import OpenAIGenerator
from ttc.contracts.records import SamplingParams
from ttc.harness.run import execute
from ttc.generators.serve import ModelServer
from ttc.contracts.rundir import read_samples


@pytest.fixture(scope="module")
def server():
    srv = ModelServer("tiny-0.3m", fail_first=2).start()
    yield srv
    srv.stop()


def test_generations_match_the_model_and_failures_are_retried(server, small, arith_prompts):
    client = OpenAIGenerator("tiny-0.3m", base_url=server.url, card="tiny-0.3m", concurrency=3, backoff_s=0.01)
    params = SamplingParams(temperature=1.0, max_tokens=40, stop=("Answer",))
    seeds = [[11 + 2 * i, 12 + 2 * i] for i in range(len(arith_prompts))]
    got = client.generate(arith_prompts, params, seeds)
    want = small.generate(arith_prompts, params, seeds)
    for g_row, w_row in zip(got, want):
        for g, w in zip(g_row, w_row):
            assert g.text == w.text and g.generated_tokens == w.generated_tokens and g.seed == w.seed
            assert g.prompt_tokens == w.prompt_tokens and g.logprob == pytest.approx(w.logprob, abs=1e-3)
            assert g.stop_reason == w.stop_reason and g.flops > 0
    assert server.requests == 2 * len(arith_prompts) + 2  # the two 503s were retried
    assert server.max_seen_concurrency <= 3


def test_scoring_and_chat_endpoint(server, small, arith_prompts):
    client = OpenAIGenerator("tiny-0.3m", base_url=server.url, card="tiny-0.3m")
    conts = ["1. 5+3=8\n"] * len(arith_prompts)
    for g, w in zip(client.score(arith_prompts, conts), small.score(arith_prompts, conts)):
        assert g.logprob == pytest.approx(w.logprob, abs=1e-3) and len(g.token_logprobs) == len(w.token_logprobs)
    chat = OpenAIGenerator("tiny-0.3m", base_url=server.url, endpoint="chat")
    params = SamplingParams(temperature=0.0, max_tokens=30)
    [[c]] = chat.generate(arith_prompts[:1], params, [[0]])
    [[w]] = small.generate(arith_prompts[:1], params, [[0]])
    assert c.text == w.text and c.flops == 0.0  # no card named: no FLOPs claimed
    with pytest.raises(ConfigError, match="answered HTTP 404"):
        OpenAIGenerator("m", base_url=server.url + "/nope", retries=0).generate(["x"], params, [[0]])


def test_a_run_through_the_server_records_usage(server, tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "generator=openai", f"generator.base_url={server.url}", "generator.card=tiny-0.3m",
            "strategy=best_of_n", "strategy.n=2", "strategy.selection=majority", "verifier=none",
            "task.per_level=1", "task.levels=[1,2]"])
    rows = execute(cfg, tmp_path, quiet=True)
    samples = read_samples(tmp_path)
    assert len(samples) == 4 and all(s["prompt_tokens"] > 20 and s["generated_tokens"] > 0 for s in samples)
    assert {r["series"] for r in rows} >= {"majority", "oracle_pass_at_n"}
