"""A spending cap per run: `budget_cap.flops`, `budget_cap.tokens`, `budget_cap.seconds` or `budget_cap.dollars`
(top-level config, null by default; dollars need a priced generator, generator.price). Before each batch the run adds what it has spent (every finished problem's ledger: generator and
verifier FLOPs; prompt, generated and verifier tokens; wall seconds) to what the batch would spend at the mean
cost of a problem so far; when that would cross a cap, the run stops there with one line (spent, the cap, how to
go on). Everything finished stays, curves are written for the finished problems (the report marks the run
incomplete), and rerunning with a higher cap, or none, resumes: the cap is not part of the run's identity
(ttc.harness.store drops it from the recorded config). The first batch of a fresh run always runs (nothing has
been spent, so no mean is known): a cap can be overshot by one batch's cost. A sharded run caps each shard
(its own finished problems); one cap shared by a sweep's jobs is not built yet. Knows nothing about models: it
reads ledgers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping

from ttc.contracts.errors import ConfigError, bad_choice

Measure = Literal["flops", "tokens", "seconds", "dollars"]
MEASURES: tuple[Measure, ...] = ("flops", "tokens", "seconds", "dollars")
UNITS = {"flops": "FLOPs", "tokens": "tokens", "seconds": "s", "dollars": "dollars"}


def cost(ledger: Mapping[str, float]) -> dict[Measure, float]:
    """What one problem's ledger spent, in each measure."""
    return {"flops": ledger.get("generator_flops", 0.0) + ledger.get("verifier_flops", 0.0),
            "tokens": ledger.get("prompt_tokens", 0) + ledger.get("generated_tokens", 0)
            + ledger.get("verifier_tokens", 0),
            "seconds": ledger.get("wall_s", 0.0), "dollars": ledger.get("dollars", 0.0)}


@dataclass
class Spending:
    """The caps that are set and what the run has spent so far, over `problems` finished problems."""

    caps: dict[Measure, float]
    spent: dict[Measure, float] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0.0))
    problems: int = 0

    def add(self, ledgers: Iterable[Mapping[str, float]]) -> None:
        """Count finished problems' ledgers."""
        for ledger in ledgers:
            for k, v in cost(ledger).items():
                self.spent[k] += v
            self.problems += 1

    def stop(self, batch: int, total: int) -> str | None:
        """The one line to stop on before a batch of `batch` problems (None: go on); `total`: the run's problems."""
        for measure, cap in self.caps.items():
            mean = self.spent[measure] / self.problems if self.problems else 0.0
            if self.spent[measure] + mean * batch <= cap:
                continue
            unit = UNITS[measure]
            return (f"budget_cap.{measure}={cap:.4g} reached: {self.spent[measure]:.4g} {unit} spent on "
                    f"{self.problems} of {total} problems, and the next batch of {batch} would spend ~"
                    f"{mean * batch:.4g} more; the finished problems are kept and their curves written. Raise it "
                    f"(budget_cap.{measure}={max(cap * 2, self.spent[measure] + mean * batch):.3g}) or set "
                    f"budget_cap.{measure}=null and rerun the same command to resume")
        return None


def spending(node: Mapping | None) -> Spending | None:
    """The run's caps from `budget_cap` (None when none is set); a bad one is one line naming it."""
    caps: dict[Measure, float] = {}
    for key, value in (node or {}).items():
        if key not in MEASURES:
            raise bad_choice("budget_cap key", key, MEASURES)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"budget_cap.{key}={value} must be a positive number (or null: no cap)")
        caps[key] = float(value)
    return Spending(caps) if caps else None
