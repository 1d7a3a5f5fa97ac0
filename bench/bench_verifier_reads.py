"""Verifier tokens read per generated token: PRM beam search vs best-of-N with the same tiny PRM judge.

    python bench/bench_verifier_reads.py [--problems 5] [--n 16] [--width 4] [--threads 2]

Runs both strategies through the run loop on the same arith problems (levels 3-5) and prints, from each
problem's ledger, generated tokens, verifier tokens, their ratio, and the verifier's share of FLOPs. A count,
not a timing, so it is exact and the same on any machine; `--branched 0` reads each verdict with its own
forward (the path before BranchScorer) and `--reuse 0` re-reads every round's prefixes (the path before prefix
reuse), for before/after comparisons. It also prints generated tokens per second of strategy wall time (the
ledgers' wall_s), the strategies alternating `--repeats` times, median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def _ledgers(run_dir: Path) -> tuple[int, int, float, float, float]:
    seen, gen, ver, gflops, vflops, wall = set(), 0, 0, 0.0, 0.0, 0.0
    for line in open(run_dir / "samples.jsonl"):
        row = json.loads(line)
        if row["problem_id"] in seen:
            continue
        seen.add(row["problem_id"])
        led = row["ledger"]
        gen, ver = gen + led["generated_tokens"], ver + led["verifier_tokens"]
        gflops, vflops = gflops + led["generator_flops"], vflops + led["verifier_flops"]
        wall += led["wall_s"]
    return gen, ver, gflops, vflops, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=5)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--branched", type=int, default=1, help="0: score each verdict with its own forward")
    parser.add_argument("--reuse", type=int, default=1, help="0: no prefix reuse across a search's rounds")
    parser.add_argument("--repeats", type=int, default=1, help="alternate the strategies this many times")
    args = parser.parse_args()
    if not args.reuse:
        import contextlib

        from ttc.generators.hf import HFGenerator
        HFGenerator.prefix_caching = lambda self: contextlib.nullcontext()  # every round reads everything again
    torch.set_num_threads(args.threads)
    if not args.branched:
        from ttc.generators.hf import HFGenerator
        del HFGenerator.score_branches  # the judge is no longer a BranchScorer: the two-forward path
    per = max(1, args.problems // 3)
    common = ["logger=none", "verifier=tiny_prm", "task.levels=[3,4,5]", f"task.per_level={per}", "batch_size=20"]
    points = {"best_of_n": ["strategy=best_of_n", f"strategy.n={args.n}"],
              "prm_beam": ["strategy=prm_beam", f"strategy.n={args.n}", f"strategy.width={args.width}"]}
    rates: dict[str, list[float]] = {name: [] for name in points}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, overrides in points.items():
                with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                    cfg = compose(config_name="config", overrides=[*common, *overrides])
                execute(cfg, Path(tmp) / f"{name}{r}", quiet=True)
                gen, ver, gflops, vflops, wall = _ledgers(Path(tmp) / f"{name}{r}")
                rates[name].append(gen / wall)
                if r == 0:
                    print(f"{name:10s} branched={args.branched} reuse={args.reuse}: generated {gen:7d}  verifier read "
                          f"{ver:8d} = {ver / gen:5.1f} per generated token; verifier share of FLOPs "
                          f"{vflops / (gflops + vflops):.0%}", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"generated tokens/s (strategy wall, median of {args.repeats}): best_of_n {med['best_of_n']:.0f}, "
          f"prm_beam {med['prm_beam']:.0f}: ratio {med['prm_beam'] / med['best_of_n']:.2f} (goal >= 0.7)")


if __name__ == "__main__":
    main()
