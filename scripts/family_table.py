"""Greedy and majority@16 accuracy per level for each tiny model: the table the family is tuned by.

    python scripts/family_table.py                          # bundled models, 40 test problems per level
    python scripts/family_table.py --models /tmp/m/tiny-0.3m --per-level 100 --out /tmp/family
    python scripts/family_table.py --models tiny-1m tiny-4m --generator vllm_tiny   # faster (not tiny-0.3m)

Runs `ttc`'s own `execute` (greedy, then majority with n=16 and no verifier) for each model on levels 1-5
and prints a markdown table; the run directories stay under `--out` for inspection.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

LEVELS = ("1", "2", "3", "4", "5")


def _accuracy(rows: list[dict], strategy: str, budget: int) -> dict[str, float]:
    return {r["level"]: r["accuracy"] for r in rows if r["series"] == strategy and r["budget"] == budget}


def evaluate(model: str, per_level: int, out: Path, temperature: float, generator: str) -> tuple[dict, dict]:
    """(greedy, majority@16) accuracy by difficulty ("1".."5" and "all") for one model."""
    base = [f"generator={generator}", "verifier=none", f"task.per_level={per_level}", f"generator.model={model}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        greedy_cfg = compose(config_name="config", overrides=[*base, "strategy=greedy"])
        vote_cfg = compose(config_name="config", overrides=[
            *base, "strategy=majority", "strategy.n=16", f"strategy.temperature={temperature}"])
    name = Path(model).name
    greedy = _accuracy(execute(greedy_cfg, out / name / "greedy", quiet=True), "greedy", 1)
    vote = _accuracy(execute(vote_cfg, out / name / "majority", quiet=True), "majority", 16)
    return greedy, vote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny-0.3m", "tiny-1m", "tiny-4m"])
    parser.add_argument("--per-level", type=int, default=40)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=Path("runs/family"))
    parser.add_argument("--generator", default="tiny", help="conf/generator entry: tiny (HF) or vllm_tiny")
    args = parser.parse_args()
    print("| model | rule | " + " | ".join(f"L{lv}" for lv in LEVELS) + " | L3-5 |")
    print("|---|---|" + "---|" * (len(LEVELS) + 1))
    for model in args.models:
        results = evaluate(model, args.per_level, args.out, args.temperature, args.generator)
        for rule, acc in zip(("greedy", "majority@16"), results):
            mid = sum(acc[lv] for lv in ("3", "4", "5")) / 3
            cells = " | ".join(f"{acc[lv]:.3f}" for lv in LEVELS)
            print(f"| {Path(model).name} | {rule} | {cells} | {mid:.3f} |", flush=True)


if __name__ == "__main__":
    main()
