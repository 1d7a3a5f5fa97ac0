"""Peak memory against n: best-of-n with the tiny PRM as verifier on the same 5 problems, n = 4, 16, 64.

    python bench/bench_memory.py [--ns 4 16 64] [--verifier tiny_prm] [--per-level 1]

Each n runs as its own `ttc` process (logger=none) whose peak resident set (ru_maxrss) it reports when it
exits; runs alternate over the ns `--repeats` times and the median peak of each n is printed with its ratio
to the smallest n. What is flat here is the harness's and the verifier's share; the engine's own KV cache
grows with the rows it holds at once (at most generator.max_batch_rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

PEAK = ("import resource, sys\nsys.argv = ['ttc'] + sys.argv[1:]\nfrom ttc.harness.cli import main\n"
        "try:\n    main()  # not the console script's entry(): its quick exit would skip this report\n"
        "except SystemExit:\n    pass\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")


def peak_mib(n: int, verifier: str, per_level: int, run_dir: str) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK, "strategy=best_of_n", f"strategy.n={n}", f"verifier={verifier}",
                          f"task.per_level={per_level}", "logger=none", f"hydra.run.dir={run_dir}"],
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    kb = int(out.stdout.split("PEAK_KB")[-1].split()[0])
    return kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ns", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--verifier", default="tiny_prm")
    parser.add_argument("--per-level", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    peaks: dict[int, list[float]] = {n: [] for n in args.ns}
    for k in range(args.repeats):
        for n in args.ns:
            peaks[n].append(peak_mib(n, args.verifier, args.per_level, f"{work}/n{n}_{k}"))
    base = statistics.median(peaks[args.ns[0]])
    for n in args.ns:
        m = statistics.median(peaks[n])
        print(f"n={n:4d}  peak {m:7.0f} MiB  (min {min(peaks[n]):.0f}, max {max(peaks[n]):.0f})  x{m / base:.2f}")


if __name__ == "__main__":
    main()
