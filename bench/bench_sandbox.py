"""Sandbox throughput: the canonical solutions of HumanEval, HumanEval+ and MBPP+ graded on their hidden tests.

    python bench/bench_sandbox.py [--data ../shared/data] [--workers 1 2] [--repeats 2]

Each program runs in its own limited subprocess (sandbox/process.py), so the figure is dominated by
interpreter start-up plus the tests themselves (HumanEval+/MBPP+ run hundreds of inputs per problem against a
reference). Prints programs per second per dataset and worker count; the ratio between worker counts, taken in
the same run, is the parallel speed-up on this machine. Every canonical solution must pass, or the bench stops.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ttc.tasks.code_task import CodeTask  # noqa: E402

FILES = {"humaneval": "humaneval/HumanEval.jsonl.gz", "humaneval_plus": "humaneval/HumanEvalPlus.jsonl.gz",
         "mbpp_plus": "mbpp/MbppPlus.jsonl.gz"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for name in args.datasets:
        rates = {}
        for workers in args.workers:
            task = CodeTask(name, path=str(Path(args.data) / FILES[name]), workers=workers)
            problems = task.problems()
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                passed = task.grade_many([p.metadata["canonical"] for p in problems], problems)
                best = min(best, time.perf_counter() - t0)
                if not all(passed):
                    sys.exit(f"{name}: {len(passed) - sum(passed)} canonical solutions failed")
            rates[workers] = len(problems) / best
            print(f"{name:15s} workers {workers}: {len(problems)} programs in {best:6.2f} s"
                  f" = {rates[workers]:6.1f} programs/s", flush=True)
        lo, hi = min(rates), max(rates)
        if hi != lo:
            print(f"{name:15s} speed-up {hi} vs {lo} workers: {rates[hi] / rates[lo]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
