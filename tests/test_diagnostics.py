"""Verifier diagnostics: reliability and ECE, AUROC overall and per level, and the over-optimisation peak."""

import pytest

from ttc.analysis.diagnostics import auroc, calibration, overoptimisation, reliability


def _line(score, correct, level=1, verifier="v"):
    return {"generator": "m", "verifier": verifier, "verifier_score": score, "correct": correct, "difficulty": level}


def test_reliability_bins_and_expected_calibration_error():
    bins, ece = reliability([0.05, 0.05, 0.95, 0.95, 0.55], [False, True, True, True, True])
    assert [(b["bin"], b["count"], b["accuracy"]) for b in bins] == [(0, 2, 0.5), (5, 1, 1.0), (9, 2, 1.0)]
    # (2/5)|0.5-0.05| + (1/5)|1-0.55| + (2/5)|1-0.95| = 0.18 + 0.09 + 0.02
    assert ece == pytest.approx(0.29)
    assert reliability([0.0, 1.0], [False, True])[1] == 0.0


def test_auroc_counts_ties_half_and_needs_both_classes():
    assert auroc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.2, 0.9, 0.4, 0.6], [True, False, True, False]) == 0.0
    assert auroc([0.3], [True]) is None


def test_calibration_per_verifier_and_level():
    lines = [_line(0.9, True, 1), _line(0.2, False, 1), _line(0.7, True, 2), _line(0.8, False, 2),
             _line(-3.0, True, 1, "logprob"), _line(-5.0, False, 1, "logprob"),
             {**_line(None, True), "verifier": "none"}]
    rows = {r["verifier"]: r for r in calibration(lines)}
    assert set(rows) == {"v", "logprob"}
    assert rows["v"]["auroc"] == 0.75 and rows["v"]["auroc_by_level"] == {"1": 1.0, "2": 0.0}
    assert rows["v"]["n_candidates"] == 4 and rows["v"]["ece"] is not None
    assert rows["logprob"]["ece"] is None and rows["logprob"]["bins"] == [] and rows["logprob"]["auroc"] == 1.0


def _curve(series, n, acc, verifier="orm"):
    return {"model": "m", "series": series, "verifier": verifier if series == "best_of_n" else "none", "budget": n,
            "budget_unit": "samples", "level": "all", "accuracy": acc}


def test_the_over_optimisation_peak_is_marked_only_when_a_larger_n_falls():
    falling = [_curve("best_of_n", n, a) for n, a in [(1, 0.2), (4, 0.24), (16, 0.18), (64, 0.12)]]
    rising = [_curve("oracle_pass_at_n", n, a) for n, a in [(1, 0.2), (4, 0.5), (16, 0.7), (64, 0.9)]]
    [row] = overoptimisation(falling + rising)
    assert row["peak_n"] == 4 and row["drop_after_peak"] == pytest.approx(0.12)
    assert row["pass_at_n"] == [0.2, 0.5, 0.7, 0.9]
    [steady] = overoptimisation([_curve("best_of_n", n, a) for n, a in [(1, 0.2), (4, 0.3), (16, 0.4)]])
    assert steady["peak_n"] is None and steady["drop_after_peak"] == 0.0


def test_a_tied_best_takes_the_last_n_before_the_fall():
    [row] = overoptimisation([_curve("best_of_n", n, a) for n, a in [(1, 0.2), (4, 0.3), (16, 0.3), (64, 0.1)]])
    assert row["peak_n"] == 16 and row["drop_after_peak"] == pytest.approx(0.2)
