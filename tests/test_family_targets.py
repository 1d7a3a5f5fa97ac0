"""The tuning targets of the tiny family on the test set (slow: minutes of CPU generation).

Largest model: greedy >= 80% on level 1 and <= 60% on level 5. Smallest model: majority@16 beats its own
greedy by >= 10 points on levels 3-5 combined.
"""

import json

import pytest
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

pytestmark = pytest.mark.slow


def _rows(tmp_path, name, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["verifier=none", "task.per_level=100", *overrides])
    return execute(cfg, tmp_path / name, quiet=True)


def _acc(rows, strategy, budget, difficulty):
    [r] = [r for r in rows if r["series"] == strategy and r["budget"] == budget and r["level"] == difficulty]
    return r["accuracy"]


def test_largest_model_greedy_targets(tmp_path):
    rows = _rows(tmp_path, "big", ["strategy=greedy", "generator.model=tiny-4m", "task.levels=[1,5]"])
    assert _acc(rows, "greedy", 1, "1") >= 0.80
    assert _acc(rows, "greedy", 1, "5") <= 0.60


def test_smallest_model_gains_from_majority_vote(tmp_path):
    levels = ["task.levels=[3,4,5]", "generator.model=tiny-0.3m"]
    greedy = _rows(tmp_path, "g", ["strategy=greedy", *levels])
    vote = _rows(tmp_path, "m", ["strategy=majority", "strategy.n=16", *levels])
    gain = _acc(vote, "majority", 16, "all") - _acc(greedy, "greedy", 1, "all")
    print(json.dumps({"greedy": _acc(greedy, "greedy", 1, "all"), "majority@16": _acc(vote, "majority", 16, "all")}))
    assert gain >= 0.10
