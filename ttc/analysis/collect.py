"""Per-problem records from many run directories, each tagged with the runnable arm that produced it.

An *arm* is a strategy config that would reproduce a record's rule at its budget: the pooled rules of a
best-of-N pool (majority@k, best-of-k by verifier, ...) become `best_of_n` with `n=k` and that selection;
fixed-budget strategies (greedy, beam search, budget forcing) are their run's own strategy config; revision
chains read at length l are the run's config with `n = P*l`. Measures that read the grades (pass@n,
G-Pass@k) have no arm.
Reads run directories only (run.json and samples.jsonl, once per run and a problem at a time: `LoadedRun`);
never W&B. Which pooled
series has which arm is the selections table's (ttc.contracts.selections).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ttc.analysis.curves import problem_records
from ttc.analysis.diagnostics import Scored
from ttc.analysis.probe import probe_problem
from ttc.contracts.cards import pretraining_flops
from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import SAMPLES, SampleStream, is_run_dir, read_record, shard_of
from ttc.contracts.samples import SampleLine
from ttc.contracts.selections import is_measure, rule_of


@dataclass(frozen=True)
class LoadedRun:
    """One run directory read once, a problem at a time (ttc.contracts.rundir.SampleStream), keeping what the
    report reads and not the lines: its path and run.json record, the per-problem records of its finished
    problems (ttc.analysis.curves.problem_records), the first line, the scored candidates (calibration), each
    problem's difficulty probe over its first `m` candidates, and its finished and partial problem counts."""

    path: Path
    record: dict
    records: list[dict]
    head: SampleLine | None
    scored: Scored
    probes: dict[str, tuple[float, float]]
    probe_m: int
    done: int
    partial: int

    @classmethod
    def read(cls, path: str | Path, m: int = 4) -> "LoadedRun":
        """Read a run directory: run.json, then samples.jsonl."""
        return cls.of(Path(path), read_record(path), m)

    @classmethod
    def of(cls, path: Path, record: dict, m: int = 4) -> "LoadedRun":
        """A run whose record is read already: one pass over its samples."""
        if record.get("served"):
            raise ConfigError(f"{path} holds served traffic, ungraded (no references); grade it first: ttc curves "
                              f"task=NAME pool={Path(path) / SAMPLES}")
        stream, records, scored, probes = SampleStream(path), [], Scored(), {}
        head = None
        for pool in stream:
            head = head or pool[0]
            records += problem_records(pool)
            scored.add(pool)
            probed = probe_problem(pool, m)
            if probed is not None:
                probes[pool[0]["problem_id"]] = probed
        return cls(Path(path), record, records, head, scored, probes, m, len(stream.done), len(stream.partial))

    @property
    def config(self) -> dict:
        """The run's resolved config."""
        return self.record["config"]


def find_records(paths: Iterable[str | Path]) -> list[tuple[Path, dict]]:
    """(run directory, run.json record) of every run under `paths`, shards left out (see `find_runs`)."""
    runs: dict[Path, dict] = {}
    for path in map(Path, paths):
        found = [path] if is_run_dir(path) else sorted(p.parent for p in path.rglob(SAMPLES))
        for run in found:
            record = read_record(run)
            if shard_of(record["config"])[1] > 1:
                continue
            runs.setdefault(run, record)
    return list(runs.items())


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories under `paths` (a run directory itself, a sweep, or any folder of them). Shard runs
    are skipped: their merged run (written after the sweep, or by `ttc merge`) stands for them."""
    return [run for run, _ in find_records(paths)]


def arm_of(record: dict, strategy_cfg: dict) -> dict | None:
    """The strategy config that reproduces `record` (None for measures and for pooled series with no arm in the
    selections table, ttc.contracts.selections): a pooled series' arm as the table names it, else the run's own
    config."""
    rule, budget = rule_of(record["series"]), int(record["budget"])
    if record["curve"] == "pooled" and rule is not None and rule.arm is None:
        return None  # a measure, or a series no one-answer arm reproduces (filter and cluster's 10@k)
    if record["curve"] == "pooled" and rule is not None:
        arm = {**strategy_cfg, "n": budget, "selection": rule.arm}
        if rule.arm_reject is not None:
            arm["reject"] = rule.arm_reject
        if rule.arm_name:
            arm["name"] = rule.arm_name
        return arm
    if is_measure(record.get("selection")):  # pass@n and G-Pass read the grades: measures, not runnable arms
        return None
    if record["curve"] == "chains":
        return {**strategy_cfg, "n": budget}
    return dict(strategy_cfg)


SeriesKey = tuple  # the fields naming one series of one run (model, rule, verifier, unit, ...)


@dataclass
class Series:
    """Rows of several runs, taken a whole series at a time (`take`): a series equal point for point to one an
    earlier run gave under the same name is the same numbers read off the same pool, kept once and noted; one
    that differs stays whole, its rows renamed by what differs in its run's config. Never a single problem or
    budget: a part of a series is a biased sample of it."""

    seen: dict[SeriesKey, tuple[dict, dict, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def take(self, run: str, config: dict, rows: list[dict], key, point, value, tag: str | None = None) -> list[dict]:
        """`rows` of one run, less the series an earlier run already gave; `key(row)` names a row's series,
        `point(row)` its place in the series (budget, level, problem) and `value(row)` its numbers; `tag` names
        the run where its series differ (a sweep's job name: what the sweep varies), else what differs in its
        config does."""
        groups: dict[SeriesKey, list[dict]] = {}
        for r in rows:
            groups.setdefault(key(r), []).append(r)
        out, same = [], {}
        for k, group in groups.items():
            values = {point(r): value(r) for r in group}
            if k not in self.seen:
                self.seen[k] = (values, config, run)
                out += group
            elif self.seen[k][0] == values:
                same.setdefault(self.seen[k][2], []).append(group[0]["series"])
            else:
                name = tag or differs(self.seen[k][1], config) or Path(run).name
                out += [{**r, "series": f"{r['series']} ({name})"} for r in group]
        for first, names in same.items():
            self.notes.append(f"{run}: {', '.join(sorted(set(names)))} equal {first}'s point for point (the same "
                              f"pool read the same way): shown once")
        return out


IGNORED = ("hydra", "num_shards", "shard", "batch_size", "logger")  # how a run was run, not what it computed


def differs(first: dict, other: dict, most: int = 2) -> str:
    """The config values of `other` that differ from `first` (`key=value`, at most `most`), e.g.
    `strategy.name=majority, verifier=none`; '' when none do."""
    a, b = _flat(first), _flat(other)
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k.split(".")[0] not in IGNORED]
    whole = {k.split(".")[0] for k in keys if k.split(".")[0] in ("verifier", "generator") and b.get(k) is None}
    parts = [f"{k}={b.get(k)}" for k in keys if k.split(".")[0] not in whole]
    parts = [f"{g}=none" for g in sorted(whole)] + parts
    return ", ".join(parts[:most]) + (" ..." if len(parts) > most else "")


def _flat(node: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(node, dict):
        return {prefix: node}
    if not node:
        return {prefix: None} if prefix else {}
    return {k: v for key, child in node.items() for k, v in _flat(child, f"{prefix}.{key}" if prefix else key).items()}


def load(runs: Iterable[LoadedRun | str | Path], notes: list[str] | None = None) -> list[dict]:
    """Per-problem records of every run (read here where given as a path), with `run`, `arm` and
    `verifier_cfg`. A series one run gives equal point for point to an earlier run's is kept once (said in
    `notes`); a series that differs is kept whole and named by what differs in its run's config (`Series`)."""
    out, series = [], Series()
    for loaded in runs:
        loaded = loaded if isinstance(loaded, LoadedRun) else LoadedRun.read(loaded)
        run, record, config = loaded.path, loaded.record, loaded.config
        rows = [{**r, "arm": arm_of(r, config.get("strategy", {}))} for r in loaded.records]
        kept = series.take(str(run), config, rows, key=lambda r: (r["model"], r["series"], r["verifier"],
                                                                  r["budget_unit"]),
                           point=lambda r: (r["budget"], r["problem_id"]), value=lambda r: (r["accuracy"], r["flops"]))
        out += [{**r, "run": str(run), "verifier_cfg": config.get("verifier"), "generator_cfg": config.get("generator"),
                 "pretrain_flops": pretraining_flops(record.get("card"))} for r in kept]
    if notes is not None:
        notes += series.notes
    return out


def incomplete(runs: Iterable[LoadedRun]) -> dict[str, str]:
    """run -> "k/N problems finished (p partial)" for every run that is not finished."""
    out = {}
    for run in runs:
        done, want, partial = run.done, run.record.get("problems"), run.partial
        if partial or (want is not None and done < want):
            out[str(run.path)] = f"{done}/{want if want is not None else '?'} problems finished ({partial} partial)"
    return out


def arm_label(r: dict) -> str:
    """A short name for a record's arm: strategy [verifier] @budget."""
    ver = f" [{r['verifier']}]" if r["verifier"] not in ("none", "") else ""
    unit = "" if r["budget_unit"] == "samples" else f" {r['budget_unit']}"
    return f"{r['series']}{ver} @{r['budget']}{unit}"
