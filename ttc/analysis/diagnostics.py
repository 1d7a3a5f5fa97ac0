"""Verifier diagnostics from sample lines: calibration, ranking power, and over-optimisation.

- Calibration: a reliability table (10 equal-width score bins: mean score, share correct, count) and the
  expected calibration error, sum_b (n_b / N) |accuracy_b - mean score_b|, of a verifier's scores of the
  candidates it scored, against their grades.
- AUROC of the scores against correctness (Mann-Whitney U / (n_right n_wrong), scipy), over all candidates
  and within each difficulty level (ranking power beyond difficulty); None where a level has one class only.
- Over-optimisation: best-of-n by the verifier against the oracle pass@n as n grows; the n where verifier
  argmax peaks is marked when a larger n does worse (the verifier is being exploited, Gao et al.).
Reads sample lines (ttc.contracts.samples.SampleLine) and curve rows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np
from scipy.stats import mannwhitneyu

from ttc.contracts.samples import SampleLine
from ttc.contracts.selections import BEST_OF_N, ORACLE

BINS = 10


def auroc(scores: list[float], right: list[bool]) -> float | None:
    """P(a right candidate outscores a wrong one), ties counted half; None with one class only."""
    pos = [s for s, r in zip(scores, right) if r]
    neg = [s for s, r in zip(scores, right) if not r]
    if not pos or not neg:
        return None
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def reliability(scores: list[float], right: list[bool]) -> tuple[list[dict], float]:
    """(bins with mean score, accuracy and count; expected calibration error) of scores in [0, 1]."""
    s, y = np.clip(np.asarray(scores, dtype=float), 0, 1), np.asarray(right, dtype=float)
    idx = np.minimum((s * BINS).astype(int), BINS - 1)
    rows, ece = [], 0.0
    for b in range(BINS):
        mask = idx == b
        if mask.any():
            rows.append({"bin": b, "low": b / BINS, "high": (b + 1) / BINS, "mean_score": round(float(s[mask].mean()), 6),
                         "accuracy": round(float(y[mask].mean()), 6), "count": int(mask.sum())})
            ece += mask.sum() / len(s) * abs(y[mask].mean() - s[mask].mean())
    return rows, round(float(ece), 6)


def _level_order(level) -> tuple:
    """Numeric levels in order, then any other labels, then none."""
    return (level is None, not isinstance(level, (int, float)), level if isinstance(level, (int, float)) else str(level))


def calibration(lines: Iterable[SampleLine]) -> list[dict]:
    """One row per (model, verifier) over the candidates a verifier scored: ECE, AUROC overall and per level,
    the reliability bins. Scores outside [0, 1] (log-probabilities) get AUROC only."""
    return Scored().add(lines).rows()


class Scored:
    """The candidates a verifier scored, gathered a problem at a time (`add`) so a run need not be held whole:
    per (model, verifier), each candidate's score, grade and difficulty level; `rows` is `calibration`'s table."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], tuple[list[float], list[bool], list]] = defaultdict(lambda: ([], [], []))

    @classmethod
    def joined(cls, parts: Iterable["Scored"]) -> "Scored":
        """The candidates of several gatherings (runs), in order."""
        out = cls()
        for part in parts:
            for key, columns in part.groups.items():
                for mine, theirs in zip(out.groups[key], columns):
                    mine += theirs
        return out

    def add(self, lines: Iterable[SampleLine]) -> "Scored":
        """Gather the scored candidates among `lines`."""
        for x in lines:
            if x.get("verifier_score") is not None and x.get("verifier", "none") != "none":
                scores, right, levels = self.groups[(x["generator"], x["verifier"])]
                scores.append(x["verifier_score"])
                right.append(bool(x["correct"]))
                levels.append(x["difficulty"])
        return self

    def rows(self) -> list[dict]:
        """`calibration`'s rows of what was gathered."""
        out = []
        for (model, verifier), (scores, right, levels) in sorted(self.groups.items()):
            by_level: dict = defaultdict(lambda: ([], []))
            for score, ok, level in zip(scores, right, levels):
                by_level[level][0].append(score)
                by_level[level][1].append(ok)
            per_level = {str(k): auroc(*v) for k, v in sorted(by_level.items(), key=lambda kv: _level_order(kv[0]))}
            bounded = all(0.0 <= s <= 1.0 for s in scores)
            bins, ece = reliability(scores, right) if bounded else ([], None)
            out.append({"model": model, "verifier": verifier, "n_candidates": len(scores), "share_right": round(
                float(np.mean(right)), 6), "auroc": auroc(scores, right), "ece": ece, "auroc_by_level": per_level,
                "bins": bins})
        return out


def overoptimisation(curves: list[dict]) -> list[dict]:
    """Per (model, verifier): best-of-n by the verifier and pass@n at each n (level all), and the peak n of
    the verifier's argmax when a larger n falls below it."""
    by: dict[tuple, dict[int, dict]] = defaultdict(dict)
    oracle: dict[str, dict[int, float]] = defaultdict(dict)
    for r in curves:
        if r["level"] != "all" or r["budget_unit"] != "samples":
            continue
        if r["series"] == BEST_OF_N.series:
            by[(r["model"], r["verifier"])][r["budget"]] = r
        elif r["series"] == ORACLE.series:
            oracle[r["model"]][r["budget"]] = r["accuracy"]
    out = []
    for (model, verifier), rows in sorted(by.items()):
        ns = sorted(rows)
        acc = [rows[n]["accuracy"] for n in ns]
        peak = max(n for n, a in zip(ns, acc) if a == max(acc))  # the last n at the best accuracy
        falls = any(a < max(acc) for n, a in zip(ns, acc) if n > peak)
        out.append({"model": model, "verifier": verifier, "n": ns, "selected_accuracy": acc,
                    "pass_at_n": [oracle[model].get(n) for n in ns], "peak_n": peak if falls else None,
                    "drop_after_peak": round(max(acc) - acc[-1], 6) if falls else 0.0})
    return out
