"""`ttc serve` under traffic, with the official `openai` SDK as the client: proxy mode in front of another engine
(one upstream request per sample, 502 with the upstream's message), a served day recorded as a run and graded by
`ttc curves` like the batch run, and a bounded load test (16 clients, 400 requests, 429s, memory flat)."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from hydra import compose, initialize_config_dir
from test_serve import TASK, _question, _start

from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def test_proxy_mode_sends_one_upstream_request_per_sample_and_passes_errors_on_as_502():
    """`ttc serve generator=openai` in front of an OpenAI-compatible engine (ttc's small model server): the greedy
    answer is the in-process model's, a best-of-4 costs exactly 4 upstream requests (n=1 each; providers ignore
    n > 1), a 503 is retried, and an upstream that keeps failing is a 502
    carrying the upstream's own message."""
    from starlette.testclient import TestClient

    from ttc.generators.serve import ModelServer
    from ttc.harness.serve import app, load

    upstream = ModelServer("tiny-0.3m").start()
    try:
        service = load(["generator=openai", f"generator.base_url={upstream.url}", "generator.retries=2",
                        "generator.backoff_s=0.01", "generator.card=tiny-0.3m", "logger=none",
                        "serve.presets=[greedy,best_of_n]"], CONF_DIR)
        direct = load(["logger=none", "serve.presets=[greedy]"], CONF_DIR)
        question = "Cal has 5 nuts. Cal is given 2 more. How many nuts does Cal have?"
        with TestClient(app(service)) as http, TestClient(app(direct)) as local:
            proxy = openai.OpenAI(base_url="http://testserver/v1", api_key="-", http_client=http, max_retries=0)
            here = openai.OpenAI(base_url="http://testserver/v1", api_key="-", http_client=local, max_retries=0)
            ask = {"model": "greedy", "messages": [{"role": "user", "content": question}]}
            served, want = proxy.chat.completions.create(**ask), here.chat.completions.create(**ask)
            assert served.choices[0].message.content == want.choices[0].message.content
            assert served.usage.completion_tokens == want.usage.completion_tokens > 0
            before = upstream.requests
            best = proxy.chat.completions.create(model="best_of_n", n=4, seed=3, messages=ask["messages"])
            assert upstream.requests - before == 4  # n=1 each (the verifier, model_prob, scores with its own model)
            assert best.to_dict()["ttc"]["ledger"]["generator_flops"] > 0
            upstream.fail_left = 1  # one 503, retried
            assert proxy.chat.completions.create(**ask).choices[0].message.content == want.choices[0].message.content
            upstream.fail_left = 100
            with pytest.raises(openai.APIStatusError, match=r"upstream: .*answered HTTP 503 \(.*warming up") as bad:
                proxy.chat.completions.create(**ask)
            assert bad.value.status_code == 502 and bad.value.body["type"] == "upstream_error"
    finally:
        upstream.stop()


def test_a_served_day_is_a_run_that_ttc_curves_grades_like_the_batch_run(tmp_path):
    """serve.record=DIR: each answered request's candidates go to DIR/PRESET in the sample-line schema (prompt,
    scores, selection, ledger; no reference, correct null); `ttc report` refuses it ungraded in one line, and
    `ttc curves` grades it into the same majority and best-of-k curves as a batch run of the same problems."""
    import csv

    from starlette.testclient import TestClient

    from ttc.analysis.report import build
    from ttc.contracts.errors import ConfigError
    from ttc.harness.replay import curves_command
    from ttc.harness.serve import app, load

    batch = tmp_path / "batch"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*TASK, "task.levels=[1,2]", "strategy=best_of_n",
                                                       "strategy.n=4"])
    execute(cfg, batch, quiet=True)
    pools = {}
    for line in read_samples(batch):
        pools.setdefault(line["problem_id"], line)
    service = load(["logger=none", "serve.presets=[best_of_n]", f"serve.record={tmp_path / 'day'}"], CONF_DIR)
    with TestClient(app(service)) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="-", http_client=http, max_retries=0)
        for pid, line in pools.items():
            client.chat.completions.create(model="best_of_n", n=4, seed=0, messages=[
                {"role": "user", "content": _question(line)}], extra_body={"ttc": {"problem_id": pid}})
    day = tmp_path / "day" / "best_of_n"
    served = [json.loads(x) for x in (day / "samples.jsonl").read_text().splitlines()]
    assert len(served) == 4 * len(pools) and all(x["correct"] is None and "reference" not in x for x in served)
    assert [(x["problem_id"], x["text"], x["verifier_score"]) for x in served] == [
        (x["problem_id"], x["text"], x["verifier_score"]) for x in read_samples(batch)]
    assert json.loads((day / "run.json").read_text())["served"] is True
    with pytest.raises(ConfigError, match=r"holds served traffic, ungraded .* ttc curves task=NAME pool="):
        build([str(day)])
    curves_command([f"pool={day / 'samples.jsonl'}", f"out={tmp_path / 'graded'}", "task=arith", "task.per_level=1",
                    "task.levels=[1,2]"], CONF_DIR)
    rows = lambda run: {(r["series"], r["budget"]): r["accuracy"] for r in csv.DictReader(open(run / "curves.csv"))
                        if r["level"] == "all" and r["series"] in ("majority", "best_of_n")}
    graded, want = rows(tmp_path / "graded"), rows(batch)
    assert graded == want and len(graded) == 6  # k = 1, 2, 4 for each rule
    # a restart on another port appends; a repeated prompt is recorded as its own request (id~1), and a request
    # that names no task problem is left out of the grading, not an error
    again = load(["logger=none", "serve.presets=[best_of_n]", f"serve.record={tmp_path / 'day'}", "serve.port=9"],
                 CONF_DIR)
    first = next(iter(pools))
    with TestClient(app(again)) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="-", http_client=http, max_retries=0)
        client.chat.completions.create(model="best_of_n", n=4, seed=7, messages=[
            {"role": "user", "content": _question(pools[first])}], extra_body={"ttc": {"problem_id": first}})
        client.chat.completions.create(model="best_of_n", n=4, messages=[{"role": "user", "content": "hello"}])
    ids = [json.loads(x)["problem_id"] for x in (day / "samples.jsonl").read_text().splitlines()]
    assert ids.count(f"{first}~1") == 4 and sum(i.startswith("req-") for i in ids) == 4
    curves_command([f"pool={day / 'samples.jsonl'}", f"out={tmp_path / 'graded2'}", "task=arith",
                    "task.per_level=1", "task.levels=[1,2]"], CONF_DIR)
    sizes = {x["problem_id"]: x["n_candidates"] for x in read_samples(tmp_path / "graded2")}
    assert sizes == {pid: 8 if pid == first else 4 for pid in pools}  # the repeat pooled with its problem
    with pytest.raises(ConfigError, match=r"holds a run with a different config"):
        load(["logger=none", "serve.presets=[best_of_n]", f"serve.record={tmp_path / 'day'}", "seed=5"], CONF_DIR)


def _rss_kib(pid: int) -> int:
    return next(int(x.split()[1]) for x in open(f"/proc/{pid}/status") if x.startswith("VmRSS:"))


def test_sixteen_clients_four_hundred_requests_none_lost_memory_flat_overload_429(tmp_path):
    """A bounded load test on loopback: 16 clients send 400 requests (each retried after a 429) to a server whose
    queue holds 4: every request is answered 200 exactly once, none is a 5xx, overload is answered with 429s, and
    the server's resident memory does not grow between the 100th answer and the 400th."""
    proc, url, _ = _start(tmp_path, "serve.max_queue=4", "serve.max_batch=4")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=120)
    lock, answered, refused, rss, failures = threading.Lock(), [], [0], {}, []

    def one(i: int) -> None:
        question = f"Cal has {i % 10} nuts. Cal is given {i // 10 % 10} more. How many nuts does Cal have?"
        while True:
            try:
                reply = client.completions.create(model="greedy", prompt=question, extra_body={"ttc": {
                    "problem_id": f"load-{i}"}})
                break
            except openai.RateLimitError:
                with lock:
                    refused[0] += 1
                time.sleep(0.01)
            except openai.APIError as err:  # a 5xx or anything else: recorded, the test fails
                failures.append(f"{i}: {err}")
                return
        with lock:
            answered.append(reply.to_dict()["ttc"]["problem_id"])
            if len(answered) in (100, 400):
                rss[len(answered)] = _rss_kib(proc.pid)

    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(400), timeout=600))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not failures and sorted(answered) == sorted(f"load-{i}" for i in range(400))
    assert refused[0] > 0  # 16 clients against a queue of 4: some were told to come back
    assert rss[400] - rss[100] < 16 * 1024, rss  # KiB: no growth with the requests served
