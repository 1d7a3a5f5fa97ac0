"""The OpenAI-compatible client against a real vLLM server of tiny-1m on localhost, started by this module."""

import pytest

from ttc.generators.openai_client import OpenAIGenerator
from ttc.contracts.records import SamplingParams
from ttc.tasks.arith_task import ArithTask
from tests.conftest import vllm_server

# `slow` (~60 s, a vLLM engine start): the default suite passed 15 minutes; tests/test_real_model.py's vLLM server
# test keeps the OpenAI client against `vllm serve` (SmolLM2) in the default suite.
pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0.0, max_tokens=160)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`vllm serve` of tiny-1m. A chat template that passes the user's text through lets the chat endpoint run."""
    from ttc.generators.models import resolve_model

    template = tmp_path_factory.mktemp("serve") / "chat.jinja"
    template.write_text("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with vllm_server(resolve_model("tiny-1m"), "tiny-1m", template.parent,
                     ["--block-size", "32", "--chat-template", str(template)]) as url:
        yield url


@pytest.fixture(scope="module")
def hf_1m():
    from ttc.generators.hf import HFGenerator

    return HFGenerator("tiny-1m")


@pytest.fixture(scope="module")
def prompts():
    return [p.prompt for p in ArithTask(per_level=3).problems()]


def test_completions_agree_with_hf_and_carry_usage(server, hf_1m, prompts):
    client = OpenAIGenerator("tiny-1m", base_url=server, card="tiny-1m", concurrency=4)
    got = client.generate(prompts, GREEDY, [[0, 1]] * len(prompts))
    want = hf_1m.generate(prompts, GREEDY, [[0]] * len(prompts))
    for row, (h,) in zip(got, want):
        for c in row:
            assert (c.text, c.prompt_tokens, c.generated_tokens) == (h.text, h.prompt_tokens, h.generated_tokens)
            assert c.logprob == pytest.approx(h.logprob, abs=1e-3)
            assert c.flops == pytest.approx(
                hf_1m.card.generation_flops(c.prompt_tokens, c.cached_tokens, c.generated_tokens)[1])
    assert sum(c.cached_tokens for row in got for c in row) >= 32 * len(prompts)  # the server's prefix cache


def test_seeds_repeat_through_the_server(server, prompts):
    client = OpenAIGenerator("tiny-1m", base_url=server, card="tiny-1m")
    hard, params = prompts[-3:], SamplingParams(temperature=1.0, max_tokens=160)
    a = client.generate(hard, params, [[5, 6, 7, 8]] * 3)
    b = client.generate(hard, params, [[8, 7, 6, 5]] * 3)
    assert [[c.text for c in row] for row in a] == [[c.text for c in row][::-1] for row in b]
    assert sum(len({c.text for c in row}) for row in a) > 3


def test_echo_scores_agree_with_hf(server, hf_1m, prompts):
    client = OpenAIGenerator("tiny-1m", base_url=server, card="tiny-1m")
    texts = [c[0].text for c in hf_1m.generate(prompts[:4], GREEDY, [[0]] * 4)]
    got, want = client.score(prompts[:4], texts), hf_1m.score(prompts[:4], texts)
    assert [s.logprob for s in got] == pytest.approx([s.logprob for s in want], abs=1e-3)
    assert [len(s.token_logprobs) for s in got] == [len(s.token_logprobs) for s in want]


def test_chat_endpoint(server, prompts):
    chat = OpenAIGenerator("tiny-1m", base_url=server, card="tiny-1m", endpoint="chat")
    plain = OpenAIGenerator("tiny-1m", base_url=server, card="tiny-1m")
    a, b = chat.generate(prompts[:5], GREEDY, [[0]] * 5), plain.generate(prompts[:5], GREEDY, [[0]] * 5)
    assert [r[0].text for r in a] == [r[0].text for r in b]  # the template passes the prompt through
    assert all(r[0].token_logprobs and r[0].generated_tokens == len(r[0].token_logprobs) for r in a)
