"""Difficulty bins and the compute-optimal strategy per bin and budget, chosen with cross-validation.

- Oracle difficulty: a problem's pass@1 from a model's sample pool; predicted difficulty: the verifier's mean
  score over the first `m` samples of the pool (the probe, ttc.analysis.probe), whose FLOPs are counted.
  Both are cut into quantile bins (bin 1 = easiest); predicted bins keep their score thresholds, so new
  problems can be binned at inference.
- For every budget (the FLOPs of the baseline rule, e.g. best-of-N by verifier, at n = 1, 2, 4, ...) and bin,
  the arm with the best accuracy among those costing no more is chosen on one fold of problems and scored on
  the other (2-fold by default); the held-out accuracy is set against the baseline at that budget, with
  paired BCa bootstrap intervals over problems (ttc.analysis.intervals). The arm chosen on all problems goes into the policy file.
Reads records from ttc.analysis.collect; knows nothing about models.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from ttc.analysis.collect import arm_label
from ttc.analysis.intervals import difference
from ttc.contracts.selections import SAMPLE


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16**12


def fold_of(problem_id: str, folds: int = 2) -> int:
    """The cross-validation fold of a problem (a hash of its id)."""
    return int(_unit(f"fold:{problem_id}") * folds)


def oracle_difficulty(records: list[dict], model: str) -> dict[str, float]:
    """pass@1 per problem from the model's sample pool (the `sample` rule at budget 1)."""
    return {r["problem_id"]: r["accuracy"] for r in records
            if r["model"] == model and r["series"] == SAMPLE.series and r["budget"] == 1}


def quantile_bins(values: dict[str, float], n_bins: int = 5) -> dict[str, int]:
    """Bin 1 holds the highest values (easiest), ties broken by a hash of the problem id."""
    order = sorted(values, key=lambda pid: (-values[pid], _unit(pid)))
    return {pid: 1 + (i * n_bins) // len(order) for i, pid in enumerate(order)}


def thresholds(scores: dict[str, float], n_bins: int = 5) -> list[float]:
    """Descending score cut points between quantile bins of the probe scores."""
    values = np.array(sorted(scores.values(), reverse=True))
    return [float(np.quantile(values, 1 - j / n_bins)) for j in range(1, n_bins)]


def arms_table(records: list[dict], model: str, problems: set[str]) -> dict[str, dict[str, dict]]:
    """label -> problem -> record, for runnable arms of `model` that cover every problem."""
    table: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in records:
        if r["model"] == model and r.get("arm") is not None and r["problem_id"] in problems:
            table[arm_label(r)][r["problem_id"]] = r
    return {label: rows for label, rows in table.items() if set(rows) >= problems}


def choose_arm(arms: dict[str, dict[str, dict]], pids: list[str], budget: float | str, extra: dict[str, float]) -> str | None:
    """The most accurate arm on `pids` whose mean cost (plus `extra`) is within `budget`: FLOPs, or the label
    of the baseline arm whose mean cost on the same problems is the budget (equal compute where it is spent)."""
    if isinstance(budget, str):
        budget = float(np.mean([arms[budget][p]["flops"] for p in pids]))
    best, best_key = None, None
    for label, rows in arms.items():
        cost = np.mean([rows[p]["flops"] + extra.get(p, 0.0) for p in pids])
        if cost > budget * (1 + 1e-9):
            continue
        key = (np.mean([rows[p]["accuracy"] for p in pids]), -cost, label)
        if best_key is None or key > best_key:
            best, best_key = label, key
    return best


def budgets_of(arms: dict[str, dict[str, dict]], baseline: str) -> list[tuple[str, float]]:
    """(label, mean FLOPs) of the baseline rule's arms, cheapest first: the budgets compared at."""
    out = []
    for label, rows in arms.items():
        head = next(iter(rows.values()))
        if head["series"] == baseline:
            out.append((label, float(np.mean([r["flops"] for r in rows.values()])), head["budget"]))
    return [(label, flops) for label, flops, _ in sorted(out, key=lambda x: x[2])]


def compute_optimal(records: list[dict], model: str, bins: dict[str, int], baseline: str,
                    extra: dict[str, float] | None = None, folds: int = 2) -> list[dict]:
    """Per (budget, bin) and over all bins: the held-out accuracy of the arm chosen on the other folds
    against the baseline at the same budget; `extra` is per-problem cost added to every arm (the probe)."""
    extra = extra or {}
    arms = arms_table(records, model, set(bins))
    by_bin: dict[int, list[str]] = defaultdict(list)
    for pid, b in bins.items():
        by_bin[b].append(pid)
    rows = []
    for base_label, budget in budgets_of(arms, baseline):
        adaptive: dict[str, float] = {}
        base: dict[str, float] = {}
        fixed: dict[str, float] = {}
        for b, pids in sorted(by_bin.items()):
            picks = []
            for f in range(folds):
                train = [p for p in pids if fold_of(p, folds) != f]
                test = [p for p in pids if fold_of(p, folds) == f]
                # no training problem in this bin's fold: nothing to choose on, so the baseline stands
                label = choose_arm(arms, train, base_label, extra) if train else base_label
                if label is None or not test:
                    continue
                picks.append(label)
                for p in test:
                    adaptive[p] = arms[label][p]["accuracy"]
                    base[p] = arms[base_label][p]["accuracy"]
            if picks:  # a bin where no arm fits (a probe dearer than the budget) gets no row; "all" says n=0
                rows.append(_row(model, baseline, base_label, budget, str(b), pids, adaptive, base,
                                 choose_arm(arms, pids, base_label, extra), picks))
        everyone = list(bins)
        for f in range(folds):  # the best single fixed arm, chosen the same held-out way without bins
            train = [p for p in everyone if fold_of(p, folds) != f]
            label = choose_arm(arms, train, base_label, extra)
            for p in (p for p in everyone if fold_of(p, folds) == f and label):
                fixed[p] = arms[label][p]["accuracy"]
        row = _row(model, baseline, base_label, budget, "all", everyone, adaptive, base, None, [])
        row["fixed_accuracy"] = round(float(np.mean(list(fixed.values()))), 6) if fixed else None
        rows.append(row)
    return rows


def _row(model, baseline, base_label, budget, diff, pids, adaptive, base, chosen, picks) -> dict:
    held = [p for p in pids if p in adaptive]
    a = np.array([adaptive[p] for p in held])
    b = np.array([base[p] for p in held])
    low, high = difference(a, b)[1:] if len(a) else (float("nan"), float("nan"))
    return {"model": model, "baseline": base_label, "budget_flops": float(f"{budget:.6g}"), "difficulty": diff,
            "n_problems": len(held), "adaptive_accuracy": round(float(a.mean()), 6) if len(a) else None,
            "baseline_accuracy": round(float(b.mean()), 6) if len(b) else None,
            "gain": round(float((a - b).mean()), 6) if len(a) else None, "gain_ci_low": round(low, 6),
            "gain_ci_high": round(high, 6), "chosen": chosen, "fold_choices": picks}
