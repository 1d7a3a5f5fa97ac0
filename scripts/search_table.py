"""The search table of the tree-search issue: accuracy and FLOPs per problem on the tiny world for every
step-level search strategy and best-of-N at n = 4/16/64, with the tiny PRM and the noisy oracle at two
qualities. Every run is a normal resumable ttc run under OUT (default runs/search_table); rerunning skips
what is done. Prints a Markdown table. Usage: python scripts/search_table.py [OUT] [PER_LEVEL]
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

VERIFIERS = {"tiny-prm": ["verifier=tiny_prm"], "oracle-0.7": ["verifier=noisy_oracle", "verifier.quality=0.7"],
             "oracle-0.95": ["verifier=noisy_oracle", "verifier.quality=0.95"]}
STRATEGIES = {
    "best_of_n": lambda n: ["strategy=best_of_n", f"strategy.n={n}", "strategy.selection=verifier"],
    "prm_beam": lambda n: ["strategy=prm_beam", f"strategy.n={n}", "strategy.width=4" if n >= 4 else "strategy.width=1"],
    "dvts": lambda n: ["strategy=dvts", f"strategy.n={n}", "strategy.width=4" if n >= 4 else "strategy.width=1"],
    "tot": lambda n: ["strategy=tot", f"strategy.n={n}", "strategy.width=2"],
    "rebase": lambda n: ["strategy=rebase", f"strategy.n={n}"],
    "particle_filter": lambda n: ["strategy=particle_filter", f"strategy.n={n}"],
    "mcts": lambda n: ["strategy=mcts", f"strategy.simulations={n}"],
}


def run(out: Path, name: str, overrides: list[str], per_level: int) -> list[dict]:
    """The level-"all" curve rows of one (resumed) run."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.levels=[2,3,4,5]", f"task.per_level={per_level}",
                                                       "logger=none", *overrides])
    return [r for r in execute(cfg, out / name, quiet=True) if r["level"] == "all"]


def cell(rows: list[dict], series: str | None, n: int) -> str:
    """accuracy (FLOPs per problem) of `series` at budget n (the run's own row when series is None)."""
    [row] = [r for r in rows if (r["series"] == series and r["budget"] == n) or (series is None and r["selection"]
             not in ("oracle", "g_pass"))]
    return f"{row['accuracy']:.3f} ({row['flops_per_problem']:.2g})"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/search_table")
    per_level = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    ns = (4, 16, 64)
    print("| strategy | verifier | " + " | ".join(f"n={n} acc (FLOPs)" for n in ns) + " |")
    print("|---|---|" + "---|" * len(ns))
    for vname, vargs in VERIFIERS.items():
        for sname, sargs in STRATEGIES.items():
            if sname == "best_of_n":  # one pool of 64; every n <= 64 is read off it exactly
                pool = run(out, f"{vname}/best_of_n", [*sargs(max(ns)), *vargs], per_level)
                cells = [cell(pool, "best_of_n", n) for n in ns]
            else:
                cells = [cell(run(out, f"{vname}/{sname}_n{n}", [*sargs(n), *vargs], per_level), None, n) for n in ns]
            print(f"| {sname} | {vname} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
