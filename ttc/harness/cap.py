"""A spending cap per run: `budget_cap.flops`, `budget_cap.tokens`, `budget_cap.seconds` or `budget_cap.dollars`
(top-level config, null by default; dollars need a priced generator, generator.price). Before each batch the run adds what it has spent (every finished problem's ledger: generator and
verifier FLOPs; prompt, generated and verifier tokens; wall seconds) to what the batch would spend at the mean
cost of a problem so far; when that would cross a cap, the run stops there with one line (spent, the cap, how to
go on). Everything finished stays, curves are written for the finished problems (the report marks the run
incomplete), and rerunning with a higher cap, or none, resumes: the cap is not part of the run's identity
(ttc.harness.store drops it from the recorded config). The first batch of a fresh run always runs (nothing has
been spent, so no mean is known): a cap can be overshot by one batch's cost.

In a sweep (`ttc -m`) the cap is the sweep's: before each batch a job adds what the sweep's other jobs have
spent (`SweepSpent`: every `SWEEP/*/samples.jsonl` but its own, read incrementally, a problem's ledger counted
once) to its own. Jobs launched in order (Hydra's basic launcher) spend in that order. The job the cap stops
writes `SWEEP/budget_cap.json` (the caps and its line), and every later job at the same caps stops before
loading a model, so a grid spends past the cap by at most the one batch a fresh job runs before a mean is
known; a rerun with other caps ignores it. The sweep ends saying which jobs did not finish. Jobs
launched side by side (joblib, submitit, ray) each see the others' finished problems, so the sweep can pass
the cap by one batch per job running at once. Knows nothing about models: it reads ledgers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
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
            "seconds": ledger.get("wall_s") or 0.0, "dollars": ledger.get("dollars") or 0.0}


@dataclass
class Spending:
    """The caps that are set and what the run has spent so far, over `problems` finished problems."""

    caps: dict[Measure, float]
    spent: dict[Measure, float] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0.0))
    problems: int = 0
    others: dict[Measure, float] | None = None  # what a sweep's other jobs spent (None: not in a sweep)
    rerun: str = "rerun the same command"  # how to go on (a sweep names its directory: its default is dated)

    def add(self, ledgers: Iterable[Mapping[str, float]]) -> None:
        """Count finished problems' ledgers."""
        for ledger in ledgers:
            for k, v in cost(ledger).items():
                self.spent[k] += v
            self.problems += 1

    def stop(self, batch: int, total: int) -> str | None:
        """The one line to stop on before a batch of `batch` problems (None: go on); `total`: the run's problems.
        In a sweep, a cap the other jobs have already spent stops even a job that has spent nothing."""
        for measure, cap in self.caps.items():
            mean = self.spent[measure] / self.problems if self.problems else 0.0
            before = self.spent[measure] + (self.others or {}).get(measure, 0.0)
            if before < cap and before + mean * batch <= cap:
                continue
            unit = UNITS[measure]
            mine = f"{self.spent[measure]:.4g} {unit} spent on {self.problems} of {total} problems"
            spent = (mine if self.others is None
                     else f"{before:.4g} {unit} spent by the sweep's jobs ({mine} of this one)")
            ahead = (f"and the next batch of {batch} would spend ~{mean * batch:.4g} more" if before < cap
                     else "so the cap is spent before this job's next batch")
            return (f"budget_cap.{measure}={cap:.4g} reached{' by the sweep' if self.others is not None else ''}: "
                    f"{spent}, {ahead}; the finished problems are kept and their curves written. Raise it "
                    f"(budget_cap.{measure}={max(cap * 2, before + mean * batch):.3g}) or set "
                    f"budget_cap.{measure}=null and {self.rerun} to resume")
        return None


MARK = "budget_cap.json"  # in a sweep directory: the caps a job of the sweep stopped at, and its line


def mark_reached(sweep: Path, caps: Mapping[str, float], job: str, line: str) -> None:
    """Record in the sweep directory that `job` stopped at `caps` (a derived note: the ledgers stay the record)."""
    from ttc.contracts.rundir import write_atomic

    write_atomic(Path(sweep) / MARK, json.dumps({"caps": dict(caps), "job": job, "line": line}, indent=2) + "\n")


def reached(sweep: Path, caps: Mapping[str, float]) -> str | None:
    """The line for a job of a sweep whose cap (the same `caps`) an earlier job reached; None if none did."""
    try:
        mark = json.loads((Path(sweep) / MARK).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(mark, dict) or mark.get("caps") != dict(caps):
        return None
    named = ", ".join(f"budget_cap.{k}={v:.4g}" for k, v in caps.items())
    return (f"{named} was reached by this sweep's job {mark.get('job')}, so this job does not start; raise it or "
            f"set it to null and {resume_sweep(sweep)} to resume")


def resume_sweep(sweep: Path) -> str:
    """How to go on with a sweep: the same command in the same directory (a sweep's default directory is dated,
    so the same command alone would start a new sweep)."""
    return f"rerun the same command with hydra.sweep.dir={sweep}"


class SweepSpent:
    """What a sweep's other jobs have spent: each `SWEEP/*/samples.jsonl` but `own`'s, read from where the last
    look stopped (whole lines only: a job may be writing), each problem's ledger counted once (the last)."""

    def __init__(self, sweep: Path, own: Path) -> None:
        self.sweep, self.own = Path(sweep), Path(own).resolve()
        self.read: dict[Path, int] = {}  # bytes read so far, per file
        self.ledgers: dict[Path, dict[str, dict[Measure, float]]] = {}  # per file: problem id -> cost

    def total(self) -> dict[Measure, float]:
        """The other jobs' spending now, in each measure."""
        out = dict.fromkeys(MEASURES, 0.0)
        for path in sorted(self.sweep.glob("*/samples.jsonl")):
            if path.parent.resolve() == self.own:
                continue
            for spent in self._catch_up(path).values():
                for k, v in spent.items():
                    out[k] += v
        return out

    def _catch_up(self, path: Path) -> dict[str, dict[Measure, float]]:
        seen = self.ledgers.setdefault(path, {})
        with open(path, "rb") as fh:
            fh.seek(self.read.get(path, 0))
            data = fh.read()
        whole = data[:data.rfind(b"\n") + 1]
        self.read[path] = self.read.get(path, 0) + len(whole)
        for raw in whole.splitlines():
            if b'"ledger"' not in raw:
                continue  # a problem's later lines: its ledger rides on its first (ttc.contracts.samples.compact)
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a damaged line: its run's resume deals with it
            if isinstance(line, dict) and isinstance(line.get("ledger"), dict):
                seen[str(line.get("problem_id"))] = cost(line["ledger"])
        return seen


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


@dataclass(frozen=True)
class RunCap:
    """A run's spending cap: its own spending and, in a sweep, the other jobs' (inert without a cap)."""

    spend: Spending | None
    sweep: SweepSpent | None

    @staticmethod
    def of(node: Mapping | None, priced: bool, finished: Iterable[Mapping[str, float]], root: Path,
           sweep: Path | None) -> "RunCap":
        """The caps of `node` (budget_cap) with what the run's `finished` ledgers spent; `priced`: the generator
        has a price table; `root`: the run directory; `sweep`: the sweep directory, in a sweep."""
        spend = spending(node)
        if spend is None:
            return RunCap(None, None)
        if "dollars" in spend.caps and not priced:
            raise ConfigError("budget_cap.dollars needs a priced generator (generator=openai with "
                              "generator.price=...); a local model's dollars are not invented")
        spend.add(finished)
        if sweep is None:
            return RunCap(spend, None)
        spend.rerun = resume_sweep(sweep)
        return RunCap(spend, SweepSpent(sweep, root))

    def stop(self, batch: int, total: int) -> str | None:
        """The line to stop on before a batch of `batch` problems (None: go on); in a sweep, the first job to
        stop marks the sweep, and the later jobs at the same caps stop on that mark."""
        if self.spend is None or not batch:
            return None
        if self.sweep is None:
            return self.spend.stop(batch, total)
        line = reached(self.sweep.sweep, self.spend.caps)
        if line is None:
            self.spend.others = self.sweep.total()
            line = self.spend.stop(batch, total)
            if line is not None:
                mark_reached(self.sweep.sweep, self.spend.caps, self.sweep.own.name, line)
        return line

    def add(self, ledgers: Iterable[Mapping[str, float]]) -> None:
        """Count a finished batch's ledgers."""
        if self.spend is not None:
            self.spend.add(ledgers)
