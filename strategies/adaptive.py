"""Compute-optimal adaptive strategy: estimate each problem's difficulty, then run the arm chosen for it.

The policy file is written by `ttc report` (policy-MODEL.json): a probe (the first `m` samples of the pool the
bins were fitted on, scored by the run's verifier; their mean score is the predicted difficulty), the score
thresholds between bins, and per budget the strategy config chosen for each bin. At inference the probe runs
for all problems in one call, each problem is binned, and each bin's problems go to its arm in one call.
Every candidate (probe and arm) is returned and every token is in the ledger; the selected candidate is the
arm's choice. A bin with no arm in the policy uses the arm of the nearest bin that has one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Sequence

from hydra.utils import instantiate

from analysis.optimal import bin_of
from harness.errors import ConfigError
from harness.protocols import Extractor, Generator, Verifier
from harness.records import Budget, Problem, ProblemResult


def _load(policy: str | Path) -> dict:
    path = Path(policy).expanduser()
    if not path.exists():
        raise ConfigError(f"strategy.policy={policy} does not exist; write one with `ttc report RUN_DIR...`")
    data = json.loads(path.read_text())
    for key in ("probe", "budgets"):
        if key not in data:
            raise ConfigError(f"strategy.policy={policy} has no '{key}'; is it a policy-MODEL.json from ttc report?")
    if not data["budgets"]:
        raise ConfigError(f"strategy.policy={policy} has no budgets (no arm fitted under any budget)")
    return data


class Adaptive:
    def __init__(self, policy: str, budget: int = -1, name: str | None = None) -> None:
        data = _load(policy)
        try:
            entry = data["budgets"][budget]
        except IndexError:
            raise ConfigError(f"strategy.budget={budget}: the policy has budgets 0..{len(data['budgets']) - 1} "
                              f"(FLOPs {[b['budget_flops'] for b in data['budgets']]})") from None
        self.cuts = [float(t) for t in data["probe"]["thresholds"]]
        self.m = int(data["probe"]["m"])
        self.probe = instantiate({**data["probe"]["strategy"], "n": self.m, "selection": "first", "name": "probe"})
        self.arms = {int(b): instantiate(spec["strategy"]) for b, spec in entry["bins"].items()}
        self.labels = {int(b): spec["arm"] for b, spec in entry["bins"].items()}
        if not self.arms:
            raise ConfigError(f"strategy.policy={policy}: budget {budget} has no arm for any bin")
        self.budget = Budget(int(str(entry["baseline"]).rsplit("@", 1)[-1].split()[0]), "samples")
        self.name = name or "adaptive"

    def arm_for(self, level: int) -> int:
        return min(self.arms, key=lambda b: (abs(b - level), b))

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        if verifier is None:
            raise ConfigError("strategy=adaptive predicts difficulty with a verifier: set the verifier its policy "
                              "was fitted with (policy 'verifier')")
        t0 = time.perf_counter()
        probes = self.probe.run(problems, generator, verifier, extract, seed)
        levels = [bin_of(sum(c.verdict.score for c in r.candidates) / len(r.candidates), self.cuts) for r in probes]
        chosen = [self.arm_for(level) for level in levels]
        out: dict[int, ProblemResult] = {}
        for arm in sorted(set(chosen)):
            idx = [i for i, a in enumerate(chosen) if a == arm]
            for i, res in zip(idx, self.arms[arm].run([problems[i] for i in idx], generator, verifier, extract, seed)):
                out[i] = res
        wall = (time.perf_counter() - t0) / max(len(problems), 1)
        results = []
        for i, (probe, level) in enumerate(zip(probes, levels)):
            res, arm = out[i], chosen[i]
            tag = {"bin": level, "arm": self.labels[arm]}
            cands = tuple(dataclasses.replace(c, info={**c.info, **tag, "role": "probe"}) for c in probe.candidates)
            cands += tuple(dataclasses.replace(c, info={**c.info, **tag, "role": "arm"}) for c in res.candidates)
            ledger = dataclasses.replace(probe.ledger + res.ledger, wall_s=wall)
            results.append(ProblemResult(res.problem_id, cands, len(probe.candidates) + res.selected, ledger,
                                         self.budget))
        return results
