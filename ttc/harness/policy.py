"""Build `strategy=adaptive` from a policy file written by `ttc report` (policy-MODEL.json).

The file holds the probe (its strategy config and `m`), the score thresholds between difficulty bins, and
per budget the strategy config chosen for each bin. This module reads and checks it and builds the probe
and the arms, so the strategy itself receives built components and touches no files.
"""

from __future__ import annotations

import json
from pathlib import Path

from hydra.utils import instantiate

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Budget
from ttc.strategies.adaptive import Adaptive


def read_policy(policy: str | Path) -> dict:
    """The policy file's contents, checked for the keys the adaptive strategy needs."""
    path = Path(policy).expanduser()
    if not path.exists():
        raise ConfigError(f"strategy.policy={policy} does not exist; write one with `ttc report RUN_DIR...`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"strategy.policy={policy} is not valid JSON ({err.msg}); rewrite it with ttc report") from None
    for key in ("probe", "budgets"):
        if key not in data:
            raise ConfigError(f"strategy.policy={policy} has no '{key}'; is it a policy-MODEL.json from ttc report?")
    if not data["budgets"]:
        raise ConfigError(f"strategy.policy={policy} has no budgets (no arm fitted under any budget)")
    return data


def adaptive_from_policy(policy: str, budget: int = -1, name: str | None = None) -> Adaptive:
    """The adaptive strategy of one budget of a policy file (`budget` indexes its budgets; -1: the largest)."""
    data = read_policy(policy)
    try:
        entry = data["budgets"][budget]
    except IndexError:
        raise ConfigError(f"strategy.budget={budget}: the policy has budgets 0..{len(data['budgets']) - 1} "
                          f"(FLOPs {[b['budget_flops'] for b in data['budgets']]})") from None
    m = int(data["probe"]["m"])
    probe = instantiate({**data["probe"]["strategy"], "n": m, "selection": "first", "name": "probe"})
    arms = {int(b): instantiate(spec["strategy"]) for b, spec in entry["bins"].items()}
    labels = {int(b): spec["arm"] for b, spec in entry["bins"].items()}
    if not arms:
        raise ConfigError(f"strategy.policy={policy}: budget {budget} has no arm for any bin")
    amount = int(str(entry["baseline"]).rsplit("@", 1)[-1].split()[0])
    return Adaptive(probe, arms, labels, data["probe"]["thresholds"], Budget(amount, "samples"), name)
