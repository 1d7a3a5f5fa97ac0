"""Verifier tokens read per generated token: PRM beam search vs best-of-N with the same tiny PRM judge.

    python bench/bench_verifier_reads.py [--problems 5] [--n 16] [--width 4] [--threads 2]

Runs both strategies through the run loop on the same arith problems (levels 3-5) and prints, from each
problem's ledger, generated tokens, verifier tokens, their ratio, and the verifier's share of FLOPs. A count,
not a timing, so it is exact and the same on any machine; `--branched 0` reads each verdict with its own
forward (the path before BranchScorer), for the before/after comparison in one process.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def _ledgers(run_dir: Path) -> tuple[int, int, float, float]:
    seen, gen, ver, gflops, vflops = set(), 0, 0, 0.0, 0.0
    for line in open(run_dir / "samples.jsonl"):
        row = json.loads(line)
        if row["problem_id"] in seen:
            continue
        seen.add(row["problem_id"])
        led = row["ledger"]
        gen, ver = gen + led["generated_tokens"], ver + led["verifier_tokens"]
        gflops, vflops = gflops + led["generator_flops"], vflops + led["verifier_flops"]
    return gen, ver, gflops, vflops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=5)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--branched", type=int, default=1, help="0: score each verdict with its own forward")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.branched:
        from ttc.generators.hf import HFGenerator
        del HFGenerator.score_branches  # the judge is no longer a BranchScorer: the two-forward path
    per = max(1, args.problems // 3)
    common = ["logger=none", "verifier=tiny_prm", "task.levels=[3,4,5]", f"task.per_level={per}", "batch_size=20"]
    points = {"best_of_n": ["strategy=best_of_n", f"strategy.n={args.n}"],
              "prm_beam": ["strategy=prm_beam", f"strategy.n={args.n}", f"strategy.width={args.width}"]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in points.items():
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose(config_name="config", overrides=[*common, *overrides])
            execute(cfg, Path(tmp) / name, quiet=True)
            gen, ver, gflops, vflops = _ledgers(Path(tmp) / name)
            print(f"{name:10s} branched={args.branched}: generated {gen:7d}  verifier read {ver:8d}  "
                  f"= {ver / gen:5.1f} per generated token; verifier share of FLOPs {vflops / (gflops + vflops):.0%}",
                  flush=True)


if __name__ == "__main__":
    main()
