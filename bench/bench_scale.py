"""The analysis at research pool sizes: synthetic pools written through the run store, then each step timed.

    python bench/bench_scale.py [--sizes 500x64 500x256] [--steps curves report] [--out /tmp/ttc-scale] [--keep]

For each size (problems x N samples a problem), a best-of-N pool with verifier scores is written through the real
store (RunStore.bind and append, no model): Zipf-like answers over 40 + N/4 distinct ones, 5% without an
answer, a problem's right answer among them, scores and log-probabilities drawn around rightness. It is written
twice: as one run, and as 4 shards. Then, each step in its own process (wall time and peak resident memory of
that process, from os.wait4):
- curves: read samples.jsonl, derive the curves and write curves.csv and curves.png (what the run loop does last);
- merge: `ttc merge` of the 4 shards (reads them, writes the merged samples.jsonl, curves.csv and png);
- report: `ttc report` of the run (reads it, every series, intervals, the compute-optimal table, the page);
- wandb: the W&B mirror's end of the run, offline (curves and problems tables, the run directory as an artifact).
Prints one row per size and step: lines, samples.jsonl size, seconds, peak MiB, and microseconds per line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["curves", "merge", "report", "wandb"]
CARD = {"attention_dim": 64, "context": 512, "hidden_size": 64, "layers": 6, "name": "tiny-0.3m",
        "non_embedding_parameters": 301888, "training_tokens": 15002323, "vocab_size": 102}
META = {"generator": "tiny-0.3m", "grader_version": "arith-exact-v1", "run_seed": 0, "selection": "verifier",
        "strategy": "best_of_n", "task": "arith", "task_version": "arith-v3", "verifier": "tiny-4m-prob-mean"}


def config(n: int, shard: int, shards: int) -> dict:
    """The config a best-of-n run of this pool would have (what run.json binds)."""
    return {"batch_size": 20, "seed": 0, "shard": shard, "num_shards": shards,
            "generator": {"_target_": "ttc.generators.hf.HFGenerator", "model": "tiny-0.3m"},
            "logger": {"_target_": "ttc.harness.wandb_log.NoLogger"},
            "strategy": {"_target_": "ttc.strategies.best_of_n.BestOfN", "n": n, "selection": "verifier",
                         "temperature": 0.8, "max_tokens": 160, "reject": False},
            "task": {"_target_": "ttc.tasks.arith_task.ArithTask", "split": "test"},
            "verifier": {"_target_": "ttc.verifiers.model_prob.ModelProbVerifier", "normalize": True}}


def problem_lines(index: int, n: int, rng: random.Random) -> list[dict]:
    """One problem's n sample lines, in the store's layout."""
    distinct = 40 + n // 4
    names = [str(i) for i in range(distinct)]
    weights = [1.0 / (i + 1) ** 1.1 for i in range(distinct)]
    right = names[rng.randrange(min(8, distinct))]
    pid = f"syn-{index}"
    ledger = {"generated_tokens": 22 * n, "prompt_tokens": 73, "generator_flops": 1.6e7 * n,
              "verifier_flops": 7.8e8 * n, "verifier_tokens": 94 * n, "cached_tokens": 73 * (n - 1)}
    lines = []
    for c in range(n):
        answer = None if rng.random() < 0.05 else rng.choices(names, weights)[0]
        ok = answer == right
        lines.append({
            "task": "arith", "task_version": "arith-v3", "grader_version": "arith-exact-v1", "strategy": "best_of_n",
            "generator": "tiny-0.3m", "verifier": "tiny-4m-prob-mean", "selection": "verifier", "run_seed": 0,
            "problem_index": index, "problem_id": pid, "difficulty": 1 + index % 5, "candidate": c,
            "n_candidates": n, "selected": c == 0, "budget": n, "budget_unit": "samples", "curve": "pooled",
            "seed": rng.getrandbits(62), "prompt": f"Q: problem {index}, a question of about this length?\nA:\n",
            "text": f"1. some working\nAnswer: {answer}\n", "answer": answer, "correct": ok, "reference": right,
            "prompt_tokens": 73, "cached_tokens": 73 if c else 0, "generated_tokens": 22,
            "logprob": round(-rng.expovariate(4.0 if ok else 2.0), 6), "finish_reason": "stop",
            "flops": 1.6e7, "prompt_flops": 4.8e7, "verifier_score": round(min(1.0, rng.betavariate(
                5 if ok else 2, 2 if ok else 5)), 8), "verifier_flops": 7.8e8, "verifier_tokens": 94,
            "step_scores": None, "info": {}, "ledger": ledger,
        })
    return lines


def write_pool(root: Path, problems: int, n: int, shards: int) -> list[Path]:
    """The pool as `shards` run directories (shard i holds problems i, i + shards, ...), written by RunStore."""
    from ttc.harness.store import RunStore

    dirs = []
    for shard in range(shards):
        store, rng = RunStore(root / f"shard={shard}"), random.Random(shard)
        mine = range(shard, problems, shards)
        store.bind(config(n, shard, shards), {"meta": META, "card": CARD, "problems": len(mine)})
        for index in mine:
            store.append(problem_lines(index, n, rng))
        dirs.append(store.root)
    return dirs


def step_curves(run: Path) -> None:
    """What the run loop does last: curves.csv and curves.png from samples.jsonl, read a problem at a time."""
    from ttc.analysis.outputs import derive_curves, write_png
    from ttc.contracts.cards import pretraining_flops
    from ttc.harness.store import RunStore

    store = RunStore(run)
    store.write_curves(derive_curves(store.problems(), pretraining_flops(CARD)), write_png)


def step_wandb(run: Path) -> None:
    """The W&B mirror's end of a run (offline): the curves (from curves.csv), the problems table of the selected
    lines (one pass), the run directory as an artifact."""
    from ttc.analysis.outputs import read_csv
    from ttc.harness.store import RunStore
    from ttc.harness.wandb_log import WandbLogger

    config = json.loads((run / "run.json").read_text())["config"]
    chosen = [x for lines in RunStore(run).problems() for x in lines if x["selected"]]
    live = WandbLogger(mode="offline").start(run, config, where=run.parent / "wandb")
    live.finish(run, config, read_csv(run / "curves.csv"), chosen)


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child process running argv (which must succeed)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench_scale: {' '.join(argv)} failed")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def bench(size: str, out: Path, only: list[str]) -> None:
    problems, n = (int(x) for x in size.lower().split("x"))
    root = out / size
    shutil.rmtree(root, ignore_errors=True)
    whole = write_pool(root / "one", problems, n, 1)[0]
    parts = write_pool(root / "four", problems, n, 4)
    lines, mib = problems * n, (whole / "samples.jsonl").stat().st_size / 2**20
    py = [sys.executable]
    steps = {
        "curves": py + [__file__, "--step-curves", str(whole)],
        "merge": py + ["-m", "ttc.harness.cli", "merge", str(root / "merged"), *map(str, parts)],
        "report": py + ["-m", "ttc.harness.cli", "report", str(whole), "--out", str(root / "report")],
        "wandb": py + [__file__, "--step-wandb", str(whole)],
    }
    for name, argv in steps.items():
        if name not in only:
            continue
        seconds, peak = timed(argv)
        print(f"{size:>10} {name:>7} {lines:>9,} {mib:>8.1f} {seconds:>8.1f} {peak:>8.0f} {1e6 * seconds / lines:>8.0f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["500x64", "500x256", "500x1024", "128x10000"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ttc-scale"))
    parser.add_argument("--keep", action="store_true", help="keep the pools (default: removed after each size)")
    parser.add_argument("--steps", nargs="+", default=STEPS, choices=STEPS, help="the steps to time (default: all)")
    parser.add_argument("--step-curves", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--step-wandb", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step_curves:
        return step_curves(args.step_curves)
    if args.step_wandb:
        return step_wandb(args.step_wandb)
    print(f"{'size':>10} {'step':>7} {'lines':>9} {'MiB':>8} {'s':>8} {'peak MiB':>8} {'us/line':>8}")
    for size in args.sizes:
        bench(size, args.out, args.steps)
        if not args.keep:
            shutil.rmtree(args.out / size, ignore_errors=True)


if __name__ == "__main__":
    main()
