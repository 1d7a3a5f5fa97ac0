"""Per-request limits of generator=openai (ttc.generators.api_limits) against ttc's own model server: a
max_tokens ceiling, a dollar ceiling priced before the request is sent (never crossed, and a prompt that alone
crosses it sends nothing), and the provider's usage checked against a local tokenizer (agreeing with an honest
server, counting a server that misreports)."""

import pytest

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import SamplingParams
from ttc.generators.api_limits import CHAT_MARGIN, RequestLimits, prompt_bound
from ttc.generators.openai_client import OpenAIGenerator
from ttc.generators.serve import ModelServer

PRICE = {"input": 0.15, "output": 0.6}  # dollars per million tokens
FREE = SamplingParams(temperature=1.0, max_tokens=40)  # long enough that the tiny model runs to the limit


class Inflating(ModelServer):
    """A provider whose usage overstates prompt tokens by 3 (a misreporting or differently-tokenising server)."""

    def completions(self, body: dict, chat: bool) -> dict:
        answer = super().completions(body, chat)
        answer["usage"]["prompt_tokens"] += 3
        return answer


@pytest.fixture(scope="module")
def server():
    srv = ModelServer("tiny-0.3m").start()
    yield srv
    srv.stop()


def test_max_tokens_caps_every_request_whatever_the_strategy_asks(server, arith_prompts):
    capped = OpenAIGenerator("tiny-0.3m", base_url=server.url, max_tokens=7)
    free = OpenAIGenerator("tiny-0.3m", base_url=server.url)
    seeds = [[5, 6]] * len(arith_prompts)
    got, want = capped.generate(arith_prompts, FREE, seeds), free.generate(arith_prompts, FREE, seeds)
    assert max(c.generated_tokens for row in want for c in row) > 7
    for g_row, w_row in zip(got, want):
        for g, w in zip(g_row, w_row):
            assert g.generated_tokens == min(7, w.generated_tokens)
            assert w.text.startswith(g.text) and (g.finish_reason == "length" or g.text == w.text)


def test_a_dollar_ceiling_lowers_max_tokens_to_fit_and_is_never_crossed(server, arith_prompts):
    prompt = "€€€€€€€€ " + arith_prompts[0]  # 8 characters of 3 bytes: one token each (tiny tokenizer)
    bound = len(prompt.encode()) + 2  # no tokenizer named: the byte bound (and 2 for special tokens)
    ceiling = (bound * 0.15 + 10 * 0.6) / 1e6  # room for exactly 10 output tokens at the bound
    client = OpenAIGenerator("tiny-0.3m", base_url=server.url, price=PRICE, max_request_dollars=ceiling)
    [[c]] = client.generate([prompt], FREE, [[3]])
    assert c.generated_tokens == 10 and c.finish_reason == "length"
    assert c.dollars <= ceiling * (1 + 1e-12) and c.prompt_tokens == bound - 17  # the true prompt is shorter
    exact = OpenAIGenerator("tiny-0.3m", base_url=server.url, price=PRICE, max_request_dollars=ceiling,
                            tokenizer="tiny-0.3m")  # an exact prompt count leaves room for more output
    [[e]] = exact.generate([prompt], FREE, [[3]])
    assert e.generated_tokens == 10 + 4 and e.dollars <= ceiling * (1 + 1e-12)  # 17 prompt tokens at 0.15 buy 4 at 0.6
    assert client.usage_check.over_ceiling == exact.usage_check.over_ceiling == 0
    assert client.usage_check.lowered == exact.usage_check.lowered == 1


def test_a_prompt_that_alone_crosses_the_ceiling_sends_nothing(server, arith_prompts):
    before = server.requests
    client = OpenAIGenerator("tiny-0.3m", base_url=server.url, price=PRICE, max_request_dollars=1e-6)
    with pytest.raises(ConfigError, match=r"max_request_dollars=1e-06: a prompt of up to \d+ tokens costs"):
        client.generate(arith_prompts[:1], FREE, [[0]])
    both = OpenAIGenerator("tiny-0.3m", base_url=server.url, price=PRICE, max_request_dollars=2e-6)
    with pytest.raises(ConfigError, match="nothing was sent"):  # "1+1" fits; the long prompt stops the whole call
        both.generate(["1+1", arith_prompts[0]], FREE, [[0, 1], [0]])
    assert server.requests == before


def test_limits_are_checked_at_construction():
    with pytest.raises(ConfigError, match="needs generator.price"):
        OpenAIGenerator("m", max_request_dollars=0.01)
    with pytest.raises(ConfigError, match="generator.max_tokens=0 must be a positive integer"):
        OpenAIGenerator("m", max_tokens=0)
    with pytest.raises(ConfigError, match="max_request_dollars=-1 must be a positive number"):
        RequestLimits(max_dollars=-1)
    assert prompt_bound("héllo", chat=True, counter=None) == 6 + CHAT_MARGIN


def test_usage_agrees_with_the_local_tokenizer_on_an_honest_server(server, arith_prompts):
    for endpoint in ("completions", "chat"):
        client = OpenAIGenerator("tiny-0.3m", base_url=server.url, tokenizer="tiny-0.3m", endpoint=endpoint)
        client.generate(arith_prompts, SamplingParams(temperature=1.0, max_tokens=30, stop=("Answer",)),
                        [[1, 2]] * len(arith_prompts))
        check = client.usage_check
        assert (check.requests, check.prompt_off, check.completion_off) == (2 * len(arith_prompts), 0, 0)


def test_a_misreporting_server_is_counted_and_said_once(arith_prompts, capsys):
    srv = Inflating("tiny-0.3m").start()
    prompt = arith_prompts[0]
    try:
        client = OpenAIGenerator("tiny-0.3m", base_url=srv.url, tokenizer="tiny-0.3m", price=PRICE)
        local = client.counter.prompt(prompt)
        ceiling = (local * 0.15 + 5 * 0.6) / 1e6  # room for 5 output tokens on the local count
        client = OpenAIGenerator("tiny-0.3m", base_url=srv.url, tokenizer="tiny-0.3m", price=PRICE,
                                 max_request_dollars=ceiling)
        [row] = client.generate([prompt], FREE, [[1, 2, 3]])
        chat = OpenAIGenerator("tiny-0.3m", base_url=srv.url, tokenizer="tiny-0.3m", endpoint="chat")
        chat.generate([prompt], FREE, [[1]])  # no chat template here: the prompt as sent cannot be counted
    finally:
        srv.stop()
    check = client.usage_check
    assert (check.requests, check.prompt_off, check.completion_off, check.over_ceiling) == (3, 3, 0, 3)
    assert (chat.usage_check.requests, chat.usage_check.prompt_off) == (1, 0)
    err = capsys.readouterr().err
    assert err.count("usage check") == 3 and "prompt tokens where generator.tokenizer counts" in err
    assert "max_tokens lowered from 40 to 5" in err and check.lowered == 3
    assert "above generator.max_request_dollars" in err
    for c in row:  # the record keeps what the provider charged, priced on its counts
        assert c.prompt_tokens == local + 3 and c.generated_tokens == 5
        assert c.dollars == pytest.approx(((local + 3) * 0.15 + 5 * 0.6) / 1e6) and c.dollars > ceiling


def test_a_run_configured_with_the_limits_keeps_them(server, tmp_path):
    from hydra import compose, initialize_config_dir

    from ttc.contracts.rundir import read_samples
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "generator=openai", f"generator.base_url={server.url}", "generator.max_tokens=4",
            "generator.tokenizer=tiny-0.3m", "generator.price={input: 0.15, output: 0.6}",
            "generator.max_request_dollars=0.001", "strategy=majority", "strategy.n=2", "verifier=none",
            "task.per_level=1", "task.levels=[1,2]", "logger=none"])
    execute(cfg, tmp_path, quiet=True)
    lines = read_samples(tmp_path)
    assert len(lines) == 4 and all(x["generated_tokens"] == 4 and 0 < x["dollars"] < 0.001 for x in lines)


def test_a_run_recorded_before_the_limits_existed_still_resumes(server, tmp_path):
    """New settings at their null default are the behaviour before they existed: an older run directory, whose
    config lacks them, resumes; a new setting with a value is another run."""
    import json

    from hydra import compose, initialize_config_dir

    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute
    from ttc.harness.store import same_config

    def cfg(*extra):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=[
                "generator=openai", f"generator.base_url={server.url}", "strategy=greedy", "verifier=none",
                "task.per_level=1", "task.levels=[1]", "logger=none", *extra])

    execute(cfg(), tmp_path, quiet=True)
    record = json.loads((tmp_path / "run.json").read_text())
    for key in ("max_tokens", "max_request_dollars", "tokenizer"):  # as an older ttc wrote it
        del record["config"]["generator"][key]
    (tmp_path / "run.json").write_text(json.dumps(record))
    execute(cfg(), tmp_path, quiet=True)  # resumes: nothing left to do
    with pytest.raises(ConfigError, match="holds a run with a different config"):
        execute(cfg("generator.max_tokens=4"), tmp_path, quiet=True)
    assert same_config({"a": {"b": 1}}, {"a": {"b": 1, "c": None}}) and not same_config({"a": 1, "b": 2}, {"a": 1})
