"""Snell et al.'s exchange of pretraining for test-time FLOPs within a model family.

Pretraining X = 6 N D_pretrain, inference Y = 2 N D_inference, R = D_inference / D_pretrain, so the larger
model L serving its queries greedily spends X_L + Y_L = X_L (1 + R/3) in all, over Q = Y_L / F_L queries
(F_L: its measured greedy FLOPs per problem). The smaller model S gets the same total: per query it may spend
(X_L (1 + R/3) - X_S) / Q. Its arm is the best one within that budget, chosen on one fold of problems and
scored on the other (as in analysis.optimal), per difficulty bin and overall, against L's greedy accuracy.
On the tiny family every number is measured here (all models were trained by scripts/train_tiny.py).
"""

from __future__ import annotations

import numpy as np

from ttc.analysis.intervals import difference
from ttc.analysis.optimal import choose_arm, arms_table, fold_of

RATIOS = (0.16, 0.79, 22.0)


def family(records: list[dict]) -> list[tuple[str, float]]:
    """(model, pretraining FLOPs) of models with a known pretraining cost, smallest first."""
    seen = {r["model"]: r["pretrain_flops"] for r in records if r.get("pretrain_flops")}
    return sorted(seen.items(), key=lambda x: x[1])


def exchange(records: list[dict], bins_by_model: dict[str, dict[str, int]], ratios=RATIOS,
             folds: int = 2) -> list[dict]:
    """Rows per (R, small, large, bin) with both accuracies and the small model's per-query budget; the bins
    are the small model's own (its oracle difficulty)."""
    fam, rows = family(records), []
    for i, (small, x_s) in enumerate(fam):
        bins = bins_by_model.get(small, {})
        for large, x_l in fam[i + 1:]:
            greedy = {r["problem_id"]: r for r in records if r["model"] == large and r["series"] == "greedy"}
            pids = sorted(set(bins) & set(greedy))
            arms = arms_table(records, small, set(pids))
            if not pids or not arms:
                continue
            f_l = float(np.mean([greedy[p]["flops"] for p in pids]))
            for ratio in ratios:
                queries = (x_l * ratio / 3) / f_l
                budget = (x_l * (1 + ratio / 3) - x_s) / queries
                rows.extend(_compare(arms, greedy, bins, pids, budget, folds,
                                     {"R": ratio, "small": small, "large": large, "queries": float(f"{queries:.4g}"),
                                      "large_flops_per_query": float(f"{f_l:.4g}"),
                                      "small_budget_per_query": float(f"{budget:.4g}")}))
    return rows


def _compare(arms, greedy, bins, pids, budget, folds, head) -> list[dict]:
    small_acc: dict[str, float] = {}
    picks: dict[str, str] = {}
    for f in range(folds):
        train = [p for p in pids if fold_of(p, folds) != f]
        label = choose_arm(arms, train, budget, {}) if budget > 0 else None
        for p in (p for p in pids if fold_of(p, folds) == f):
            if label is not None:
                small_acc[p], picks[p] = arms[label][p]["accuracy"], label
    out = []
    groups = {"all": pids, **{str(b): [p for p in pids if bins[p] == b] for b in sorted(set(bins[p] for p in pids))}}
    for diff, members in groups.items():
        held = [p for p in members if p in small_acc]
        s = np.array([small_acc[p] for p in held])
        g = np.array([greedy[p]["accuracy"] for p in held])
        low, high = difference(s, g)[1:] if len(s) else (float("nan"), float("nan"))
        out.append({**head, "difficulty": diff, "n_problems": len(held),
                    "large_greedy_accuracy": round(float(g.mean()), 6) if len(g) else None,
                    "small_accuracy": round(float(s.mean()), 6) if len(s) else None,
                    "difference": round(float((s - g).mean()), 6) if len(s) else None,
                    "ci_low": round(low, 6), "ci_high": round(high, 6),
                    "small_arms": sorted({picks[p] for p in held}),
                    "winner": _winner(low, high, head["small"], head["large"])})
    return out


def _winner(low: float, high: float, small: str, large: str) -> str:
    if np.isnan(low):
        return "n/a (the small model has no arm within budget)"
    if low > 0:
        return small
    if high < 0:
        return large
    return "tie (interval spans 0)"

