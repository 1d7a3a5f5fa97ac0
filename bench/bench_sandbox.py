"""Sandbox throughput: the canonical solutions of HumanEval, HumanEval+ and MBPP+ graded on their hidden tests.

    python bench/bench_sandbox.py [--data ../shared/data] [--workers 1 2] [--modes bwrap unisolated] [--repeats 3]

Each program runs in its own limited subprocess (ttc/sandbox/process.py), so the figure is dominated by
interpreter start-up plus the tests themselves (HumanEval+/MBPP+ run hundreds of inputs per problem against a
reference). Runs each dataset in both sandbox modes, bubblewrap namespaces and the plain subprocess (allow_unsafe_code),
interleaved (every repeat runs both) and reports the median of the repeats and their throughput ratio, so
the cost of isolation is a ratio of two things measured in the same run. Every canonical solution must pass
in both modes, or the bench stops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from ttc.sandbox import process
from ttc.tasks.code_task import CodeTask

FILES = {"humaneval": "humaneval/HumanEval.jsonl.gz", "humaneval_plus": "humaneval/HumanEvalPlus.jsonl.gz",
         "mbpp_plus": "mbpp/MbppPlus.jsonl.gz"}


MODES = ("bwrap", "unisolated")


def _use(mode: str) -> None:
    """Switch the sandbox between bubblewrap namespaces and the plain subprocess (TTC_ALLOW_UNSAFE_CODE)."""
    if mode == "unisolated":
        os.environ[process.UNSAFE_ENV] = "1"
        process.isolation = lambda: process.Isolation(None, "bench: unisolated arm")
    else:
        os.environ.pop(process.UNSAFE_ENV, None)
        process.isolation = _ISOLATION
        if process.isolation().argv is None:
            sys.exit(f"bwrap arm: {process.isolation().why}")


_ISOLATION = process.isolation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name in args.datasets:
        for workers in args.workers:
            task = CodeTask(name, path=str(Path(args.data) / FILES[name]), workers=workers, allow_unsafe_code=True)
            problems = task.problems()
            times: dict[str, list[float]] = {mode: [] for mode in args.modes}
            for _ in range(args.repeats):  # interleaved: every repeat runs every mode once
                for mode in args.modes:
                    _use(mode)
                    t0 = time.perf_counter()
                    passed = task.grade_many([p.metadata["canonical"] for p in problems], problems)
                    times[mode].append(time.perf_counter() - t0)
                    if not all(passed):
                        sys.exit(f"{name} ({mode}): {len(passed) - sum(passed)} canonical solutions failed")
            rates = {mode: len(problems) / statistics.median(t) for mode, t in times.items()}
            for mode, rate in rates.items():
                print(f"{name:15s} workers {workers} {mode:10s}: {len(problems)} programs, median "
                      f"{statistics.median(times[mode]):6.2f} s = {rate:6.1f} programs/s", flush=True)
            if len(rates) == 2:
                print(f"{name:15s} workers {workers}: bwrap / unisolated throughput "
                      f"{rates['bwrap'] / rates['unisolated']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
