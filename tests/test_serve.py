"""`ttc serve` with the official `openai` SDK as the client, on the tiny world: a served answer equals what a batch
`ttc` run selects for the same prompt, config and seed (greedy, and best-of-4 under the problem's id); chat and
completions, streamed and not; usage counts every candidate; bad requests are one OpenAI-shaped error naming
the field."""

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.harness.serve_api import RequestError, parse
from ttc.harness.serve_batch import Batcher

TASK = ["task.per_level=1", "task.levels=[1]", "logger=none"]
KEY = "sk-ttc-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cwd, *settings):
    """`ttc serve` on a free port in a child process, once /health answers: (process, base url, its log file)."""
    port = _free_port()
    log = cwd / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", "serve", f"serve.port={port}", "logger=none",
                             *settings], cwd=cwd, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return proc, url, log
        except OSError:
            if proc.poll() is not None:
                pytest.fail(log.read_text())
            time.sleep(0.2)
    pytest.fail(f"ttc serve did not answer /health in 180 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url, log = _start(tmp_path_factory.mktemp("serve"), f"serve.api_key={KEY}", "serve.max_body_bytes=4096")
    yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0), int(url.rsplit(":", 1)[1]), log
    proc.terminate()
    proc.wait(timeout=30)


def _batch(tmp_path, strategy):
    """The selected line of a batch run on the tiny world's first level-1 problem."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*TASK, *strategy])
    execute(cfg, tmp_path, quiet=True)
    return next(x for x in read_samples(tmp_path) if x["selected"])


def _question(line) -> str:
    return line["prompt"].removeprefix("Q: ").removesuffix("\nA:\n")


def test_served_answers_equal_a_batch_runs_selection(server, tmp_path):
    client, _, _ = server
    assert [m.id for m in client.models.list()] == ["greedy", "majority", "best_of_n"]
    greedy = _batch(tmp_path / "g", ["strategy=greedy"])
    resp = client.chat.completions.create(model="greedy", messages=[{"role": "user", "content": _question(greedy)}])
    assert resp.choices[0].message.content == greedy["text"] and resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens == greedy["generated_tokens"]
    best = _batch(tmp_path / "b", ["strategy=best_of_n", "strategy.n=4"])
    resp = client.chat.completions.create(model="best_of_n", n=4, seed=0, messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": _question(best)}],
        extra_body={"ttc": {"problem_id": best["problem_id"], "candidates": True}})
    extra = resp.to_dict()["ttc"]
    assert resp.choices[0].message.content == best["text"] and extra["answer"] == best["answer"]
    assert extra["info"] == best["info"] and extra["selected"] == best["candidate"]
    assert extra["budget"] == {"amount": 4, "unit": "samples"} and len(extra["candidates"]) == 4
    assert resp.usage.completion_tokens == extra["ledger"]["generated_tokens"] == best["ledger"]["generated_tokens"]
    assert extra["ledger"]["verifier_flops"] == pytest.approx(best["ledger"]["verifier_flops"])
    vote = _batch(tmp_path / "m", ["strategy=best_of_n", "strategy.n=4", "strategy.selection=majority"])
    resp = client.chat.completions.create(model="best_of_n", n=4, seed=0, messages=[
        {"role": "user", "content": _question(vote)}], extra_body={"ttc": {"problem_id": vote["problem_id"],
                                                                            "selection": "majority"}})
    assert resp.to_dict()["ttc"]["selected"] == vote["candidate"] and resp.choices[0].message.content == vote["text"]
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="greedy", messages=[{"role": "user", "content": "x"}],
                                       extra_body={"ttc": {"selection": "majority"}})
    assert bad.value.body["param"] == "ttc.selection"


def test_completions_and_streams_carry_the_same_answer(server):
    client, _, _ = server
    question = "Cal has 8 nuts. Cal is given 4 more. How many nuts does Cal have?"
    text = client.completions.create(model="majority", prompt=question, n=3, seed=1)
    again = client.completions.create(model="majority", prompt=question, n=3, seed=1)
    assert text.choices[0].text == again.choices[0].text and text.object == "text_completion"
    streamed = client.completions.create(model="majority", prompt=question, n=3, seed=1, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == text.choices[0].text
    chat = client.chat.completions.create(model="greedy", messages=[{"role": "user", "content": question}],
                                          stream=True)
    parts = list(chat)
    assert "".join(p.choices[0].delta.content or "" for p in parts).endswith("Answer: 12\n")
    assert parts[-1].choices[0].finish_reason == "stop"


def test_bad_requests_are_one_error_naming_the_field(server):
    client, port, log = server
    with pytest.raises(openai.NotFoundError, match="model 'nope' is not served; presets: greedy, majority, best_of_n"):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="best_of_n", n=0, messages=[{"role": "user", "content": "x"}])
    assert err.value.body["param"] == "n" and "n=0 is out of range" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="n does not apply to preset greedy"):
        client.chat.completions.create(model="greedy", n=2, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="max_tokens must be an integer"):
        client.completions.create(model="greedy", prompt="x", max_tokens="many")
    with pytest.raises(openai.BadRequestError, match="messages has no user message"):
        client.chat.completions.create(model="greedy", messages=[{"role": "system", "content": "x"}])
    with pytest.raises(openai.AuthenticationError, match="a valid API key is required"):
        openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0).completions.create(
            model="greedy", prompt="x")
    with pytest.raises(openai.APIStatusError, match="over serve.max_body_bytes=4,096") as big:
        client.completions.create(model="greedy", prompt="x" * 5000)
    assert big.value.status_code == 413
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{not json", method="POST",
                                 headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(req, timeout=10)
    assert raw.value.code == 400 and "not valid JSON" in json.loads(raw.value.read())["error"]["message"]
    lines = [x for x in log.read_text().splitlines() if x.startswith("ttc serve: ")]
    assert any(x.startswith("ttc serve: nope 404 0 tokens") for x in lines)
    assert any(x.startswith("ttc serve: best_of_n 200 ") and x.endswith(" s") and "e+" in x for x in lines)
    assert any(x.startswith("ttc serve: - 401 ") for x in lines) and any(" 413 " in x for x in lines)


def test_concurrent_requests_share_strategy_calls(server):
    """Eight clients at once: every request answered, each with its own problem, in fewer strategy calls than
    requests (those that arrive while a call runs are batched into the next)."""
    client, port, _ = server
    before = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read())
    questions = [f"Cal has {a} nuts. Cal is given {b} more. How many nuts does Cal have?"
                 for a, b in [(3, 4), (5, 2), (7, 1), (2, 2), (6, 3), (4, 4), (9, 0), (1, 8)]]

    def ask(q):
        return client.chat.completions.create(model="majority", n=16, seed=0, messages=[{"role": "user", "content": q}])

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(ask, questions))
    after = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read())
    assert after["requests"] - before["requests"] == 8 and after["waiting"] == 0
    assert after["strategy_calls"] - before["strategy_calls"] < 8
    assert len({r.to_dict()["ttc"]["problem_id"] for r in replies}) == 8
    assert all(r.to_dict()["ttc"]["budget"]["amount"] == 16 and r.choices[0].message.content for r in replies)


def test_a_full_queue_answers_429():
    """The batcher's bound: with one call running and the queue full, the next request is refused at once; a
    waiting request cancelled (its client left) frees its place and costs no call."""
    release = threading.Event()

    def run(batch):
        release.wait(30)
        return [{"ok": w.req.problem_id} for w in batch]

    async def scenario():
        batcher = Batcher(run, window_s=0.0, max_batch=1, max_queue=2)
        loop = asyncio.create_task(batcher.loop())
        reqs = [parse({"model": "m", "prompt": f"q{i}"}, "text", 4) for i in range(4)]
        first = asyncio.create_task(batcher.submit(reqs[0], None, 0))
        while batcher.calls == 0:  # the first request is in its strategy call
            await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(batcher.submit(r, None, 0)) for r in reqs[1:3]]
        await asyncio.sleep(0)
        with pytest.raises(RequestError) as full:
            await batcher.submit(reqs[3], None, 0)
        waiting[1].cancel()  # its client left: its place is free at once
        await asyncio.sleep(0)
        late = asyncio.create_task(batcher.submit(reqs[3], None, 0))
        await asyncio.sleep(0)
        release.set()
        answers = [await first, await waiting[0], await late]
        loop.cancel()
        return full.value, answers, batcher.dropped

    full, answers, dropped = asyncio.run(scenario())
    assert full.status == 429 and "2 requests waiting" in full.message
    assert [a["ok"] for a in answers] == [parse({"model": "m", "prompt": f"q{i}"}, "text", 4).problem_id
                                          for i in (0, 1, 3)]
    assert dropped == 1  # the cancelled one never reached a strategy call


def test_a_request_past_its_deadline_is_504(server):
    client, _, _ = server
    with pytest.raises(openai.APIStatusError, match=r"no answer within 0.001 s") as late:
        client.chat.completions.create(model="majority", n=32, messages=[{"role": "user", "content": "x"}],
                                       extra_body={"ttc": {"timeout_s": 0.001}})
    assert late.value.status_code == 504


def test_sigterm_finishes_the_requests_in_flight_then_exits(tmp_path):
    proc, url, log = _start(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(lambda: json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{url}/v1/completions", data=json.dumps({"model": "majority", "n": 64, "prompt": "x"}).encode(),
            method="POST"), timeout=120).read()))
        while json.loads(urllib.request.urlopen(f"{url}/health", timeout=10).read())["strategy_calls"] < 1:
            time.sleep(0.01)  # the request is in its strategy call
        proc.send_signal(signal.SIGTERM)
        answer = pending.result(timeout=120)
    assert answer["ttc"]["budget"]["amount"] == 64 and answer["choices"][0]["text"]
    assert proc.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its graceful exit
    assert "ttc serve: majority 200 " in log.read_text()


def test_a_client_that_disconnects_while_waiting_costs_no_strategy_call(server):
    """A request queued behind a running call whose client hangs up is dropped before its call (499 in the log)."""
    client, port, log = server
    health = lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read())
    start = health()
    with ThreadPoolExecutor(1) as pool:
        blocker = pool.submit(client.completions.create, model="majority", n=256, prompt="x")
        while health()["strategy_calls"] == start["strategy_calls"]:
            time.sleep(0.005)  # the blocker's call has started
        body = json.dumps({"model": "majority", "n": 4, "prompt": "left early"}).encode()
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            while health()["waiting"] == 0 and not blocker.done():
                time.sleep(0.005)
        blocker.result(timeout=120)
    deadline = time.time() + 60
    while health()["dropped"] < 1 and time.time() < deadline:
        time.sleep(0.05)
    after = health()
    assert after["dropped"] >= 1 and after["waiting"] == 0
    assert after["strategy_calls"] - start["strategy_calls"] == 1  # the blocker's call only
    assert " 499 " in log.read_text()
