"""`ttc serve` against calling the strategy in process, and 16 clients against 1 (a benchmark, not a test).

    python bench/bench_serve.py [--preset majority] [--n 8] [--rounds 15] [--requests 64] [--throughput-rounds 5]
    python bench/bench_serve.py --preset greedy --n 0     # one sample a request (n=0: the request sends no n)
    python bench/bench_serve.py --preset greedy --n 0 --set generator=smollm2_135m --set strategy.max_tokens=32 \
        --rounds 7 --requests 16 --throughput-rounds 3   # SmolLM2-135M-Instruct

On the tiny world: a `ttc serve` child process on a free port, and the same Service built in this process.
1. Latency at one client: interleaved pairs (in process, then served through the openai SDK; the same prompt,
   preset, n and seed), the median of each and the median of the per-pair ratios (goal: served <= 1.10x).
2. Throughput: in each of `--throughput-rounds` rounds, `--requests` fresh questions sent by 1 client one after
   another, then by 16 concurrent clients; the median over rounds of the ratio of their walls (goal >= 3x, from
   cross-request batching), p50/p95 latency of each.
Prints one line per measure. Torch runs 1 thread in both processes (OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def question(i: int) -> str:
    """A tiny-world question (its prompt format is the server's template)."""
    return f"Cal has {2 + i % 50} nuts. Cal is given {1 + i // 50} more. How many nuts does Cal have?"


def start(overrides: list[str]) -> tuple[subprocess.Popen, str]:
    """`ttc serve` in a child process (with `overrides`); its base URL once /health answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", "serve", f"serve.port={port}", "logger=none",
                             *overrides],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(900):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit("bench_serve: the server did not start")


def in_process(preset: str, n: int, overrides: list[str]):
    """A callable answering one prompt with the Service built here (as the server does, without HTTP)."""
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.serve import load
    from ttc.harness.serve_api import parse
    from ttc.harness.serve_batch import Waiting

    service = load(["logger=none", *overrides], CONF_DIR)

    def answer(q: str) -> str:
        body = {"model": preset, "seed": 0, "messages": [{"role": "user", "content": q}], **({"n": n} if n else {})}
        req = parse(body, "chat", 256)
        waiting = Waiting(req, service.strategy(req), service.seed(req), None)  # type: ignore[arg-type]
        return service.answer([waiting])[0]["choices"][0]["message"]["content"]
    return answer


def timed(call, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = call(*args)
    return time.perf_counter() - start, out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="majority")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--throughput-rounds", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for both the server and the in-process service, e.g. generator=smollm2_135m")
    args = parser.parse_args()
    os.environ.update(ENV)
    import openai

    proc, url = start(args.set)
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)

        def served(q: str) -> str:
            reply = client.chat.completions.create(model=args.preset, seed=0, messages=[{"role": "user", "content": q}],
                                                   **({"n": args.n} if args.n else {}))
            return reply.choices[0].message.content

        local = in_process(args.preset, args.n, args.set)
        served(question(0)), local(question(0))  # warm both
        mine, theirs = [], []
        for r in range(args.rounds):
            t_local, a = timed(local, question(r))
            t_served, b = timed(served, question(r))
            assert a == b, (a, b)  # the same answer both ways
            mine.append(t_local)
            theirs.append(t_served)
        ratio = statistics.median(t / m for t, m in zip(theirs, mine))
        print(f"1 client, {args.preset} n={args.n}: in process {statistics.median(mine) * 1e3:.1f} ms, served "
              f"{statistics.median(theirs) * 1e3:.1f} ms (median), served/in-process {ratio:.3f} (median of "
              f"{args.rounds} interleaved pairs)")
        ones, manys, ratios = [], [], []
        for r in range(args.throughput_rounds):  # interleaved: 1 client, then 16, on fresh questions each round
            qs = [question(1000 + r * args.requests + i) for i in range(args.requests)]
            t0 = time.perf_counter()
            one = [timed(served, q)[0] for q in qs]
            wall1 = time.perf_counter() - t0
            t0 = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                many = list(pool.map(lambda q: timed(served, q)[0], qs))
            wall16 = time.perf_counter() - t0
            ones, manys, ratios = ones + one, manys + many, ratios + [wall1 / wall16]
        rate1 = len(ones) / sum(ones)
        print(f"throughput, {args.preset}{f' n={args.n}' if args.n else ''}: 1 client {rate1:.2f} req/s (p50 "
              f"{pct(ones, 0.5) * 1e3:.0f} ms, p95 {pct(ones, 0.95) * 1e3:.0f} ms); 16 clients p50 "
              f"{pct(manys, 0.5) * 1e3:.0f} ms, p95 {pct(manys, 0.95) * 1e3:.0f} ms; 16/1 = "
              f"{statistics.median(ratios):.2f}x (median of {args.throughput_rounds} interleaved rounds of "
              f"{args.requests} requests; min {min(ratios):.2f}x, max {max(ratios):.2f}x)")
        health = urllib.request.urlopen(f"{url}/health", timeout=10).read().decode()
        print(f"server: {health}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
