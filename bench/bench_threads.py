"""Thread defaults on an idle and on a busy machine: whole `ttc` runs of SmolLM2-135M greedy on GSM8K.

    python bench/bench_threads.py [--limit 2] [--max-tokens 96] [--repeats 3] [--burners 2]

Arms (each a fresh `ttc` process, run directory new each time):
- `all`: a thread per core, OpenMP's own wait policy (ttc's default before this bench): threads spin a while
  between parallel regions before sleeping;
- `passive`: a thread per core, OMP_WAIT_POLICY=PASSIVE: threads sleep between regions;
- `spare`: one core fewer (at least one), OpenMP's own policy: ttc's default since this bench
  (ttc.generators.hf.default_threads).
Measured on 2 cores (all / passive / spare): idle 16.1 / 18.4 / 16.3 s, busy 53.1 / 30.8 / 27.7 s.
Conditions: `idle`, and `busy` with `--burners` CPU-bound processes (pure Python loops) beside the run, which
stop with the bench. Arms alternate within each round so they share the machine's noise; prints each arm's
median wall-clock per condition and the ratios to `spare` of the same condition (medians, and the median of
each round's own ratio). Machine and thread counts are printed with the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORES = len(os.sched_getaffinity(0))
ARMS = {"all": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "spare": {}}  # and their generator.threads below


def command(arm: str, run_dir: Path, limit: int, max_tokens: int) -> list[str]:
    ttc = str(Path(sys.executable).with_name("ttc"))
    argv = [ttc, "experiment=smollm2_gsm8k", "strategy=greedy", f"task.limit={limit}",
            f"strategy.max_tokens={max_tokens}", "logger=none", f"hydra.run.dir={run_dir}"]
    return argv + [f"generator.threads={max(1, CORES - 1) if arm == 'spare' else CORES}"]


def timed(argv: list[str], arm: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env.update(ARMS[arm], HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def burners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--burners", type=int, default=2)
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}, SmolLM2-135M greedy, {args.limit} GSM8K problems, {args.max_tokens} tokens, "
          f"{args.repeats} rounds, busy = {args.burners} CPU-bound processes beside")
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for condition in ("idle", "busy"):
            load = burners(args.burners) if condition == "busy" else []
            try:
                for r in range(args.repeats + 1):  # the first round warms caches and is not counted
                    for arm in ARMS:
                        wall = timed(command(arm, Path(tmp) / f"{condition}-{arm}-{r}", args.limit, args.max_tokens),
                                     arm)
                        if r:
                            times.setdefault((condition, arm), []).append(wall)
            finally:
                for p in load:
                    p.kill()
    for condition in ("idle", "busy"):
        base = times[(condition, "spare")]
        for arm in ARMS:
            mine = times[(condition, arm)]
            paired = statistics.median(a / b for a, b in zip(mine, base))
            print(f"{condition:5s} {arm:8s} median {statistics.median(mine):6.1f} s (min {min(mine):.1f}, max "
                  f"{max(mine):.1f}); / spare {statistics.median(mine) / statistics.median(base):.2f} "
                  f"(paired {paired:.2f})")


if __name__ == "__main__":
    main()
