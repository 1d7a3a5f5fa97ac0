"""The decoding-and-reranking table of the methods issue: every method on the same tiny-world problems with the
same generator (tiny-1m; contrastive and speculative against tiny-0.3m), accuracy with its 95% interval and
FLOPs per problem, beside greedy and best-of-N at n = 8. Every run is a normal resumable ttc run under OUT
(default runs/methods_table). Usage: python scripts/methods_table.py [OUT] [PER_LEVEL]
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

FORMAT = r"'(\d+\. \d+[+-]\d+=-?\d+\n)+Answer: \d+\n'"
POOL = ["strategy=best_of_n", "strategy.n=8", "strategy.temperature=1.0"]
# name -> (overrides, series read from curves.csv at the run's budget; None: the run's own series)
METHODS = {
    "greedy": (["strategy=greedy"], "greedy"),
    "speculative greedy (draft tiny-0.3m, k=4)": (["strategy=greedy", "generator=speculative",
                                                   "generator.target=tiny-1m", "generator.k=4"], "greedy"),
    "contrastive greedy (amateur tiny-0.3m)": (["strategy=greedy", "generator=contrastive",
                                                "generator.expert=tiny-1m"], "greedy"),
    "CoT decoding (k=8, max margin)": (["strategy=cot_decoding", "strategy.k=8", "strategy.selection=max"], None),
    "majority@8": ([*POOL, "strategy.selection=majority"], "majority"),
    "best-of-8 by log p (mean)": ([*POOL, "strategy.selection=logprob_mean"], "best_of_n_logprob_mean"),
    "MBR@8, edit similarity": ([*POOL, "strategy.selection=mbr_edit"], "mbr_edit"),
    "MBR@8, chrF": ([*POOL, "strategy.selection=mbr_chrf"], "mbr_chrf"),
    "rejection + best-of-8 by log p (mean)": ([*POOL, "strategy.selection=logprob_mean", "strategy.reject=true"],
                                              "best_of_n_logprob_mean"),
    "noisy channel best-of-8 (lam=1)": ([*POOL, "strategy.selection=verifier", "verifier=noisy_channel"],
                                        "best_of_n"),
    "regex-constrained majority@8": ([*POOL, "strategy.selection=majority", f"strategy.regex={FORMAT}"],
                                     "majority"),
}


def run(out: Path, name: str, overrides: list[str], per_level: int) -> list[dict]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        model = [] if any(o.startswith("generator=") for o in overrides) else ["generator.model=tiny-1m"]
        cfg = compose(config_name="config", overrides=[*model, f"task.per_level={per_level}", "logger=none",
                                                       "verifier=none", *overrides])
    return [r for r in execute(cfg, out / name, quiet=True) if r["level"] == "all"]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/methods_table")
    per_level = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    print("| method | accuracy [95% CI] | FLOPs per problem | generated tokens per problem |\n|---|---|---|---|")
    for i, (name, (overrides, series)) in enumerate(METHODS.items()):
        rows = run(out, f"m{i}", overrides, per_level)
        top = max(r["budget"] for r in rows)
        [row] = [r for r in rows if r["budget"] == top and (r["series"] == series or
                                                            (series is None and r["selection"] not in ("oracle",)
                                                             and r["series"] == r["strategy"]))]
        print(f"| {name} | {row['accuracy']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] | "
              f"{row['flops_per_problem']:.2e} | {row['gen_tokens_per_problem']:.0f} |")


if __name__ == "__main__":
    main()
