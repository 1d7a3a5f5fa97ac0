"""After a sweep (`ttc -m ...`): Hydra's callback that merges each sharded run's shards, writes the sweep's
curves (curves.csv, curves.png) and prints one table; a sweep its budget cap stopped ends with one line naming
the jobs it left unfinished (ttc.harness.cap), exit 2. Configured as `hydra.callbacks.sweep_summary`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ttc.contracts.errors import ConfigError
from ttc.harness.cap import resume_sweep
from ttc.harness.side import Side


class SweepSummary(Callback):
    """After a multirun: merge the shards of each run, then every run's curves into the sweep directory,
    and print one table."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Merge shards, then write and print the sweep's merged curves; a sweep its budget cap stopped ends with
        one line naming the jobs it left unfinished (exit 2), whether or not its shards could be merged."""
        from ttc.harness import cli as command  # the command's side worker and its one-line exit

        sweep, caps = Path(config.hydra.sweep.dir), config.get("budget_cap") or {}
        try:
            _summarise(sweep, merge_sweep_shards(sweep), command._side)
        except ConfigError as err:
            print(f"ttc: shards not merged: {err} (in this sweep: {resume_sweep(sweep)})", file=sys.stderr)
        capped = capped_jobs(sweep) if any(v is not None for v in caps.values()) else []
        if capped:
            command.fail(ConfigError(f"budget_cap stopped the sweep: {len(capped)} of its jobs did not finish ("
                             f"{', '.join(capped)}); the finished problems are kept. Raise budget_cap or set it to "
                             f"null and {resume_sweep(sweep)} to resume"), command._side)


def _summarise(sweep: Path, runs: list[Path], side: Side) -> None:
    """Every run's curves into the sweep directory (curves.csv, curves.png, drawn by `side`) and one table."""
    from ttc.analysis.collect import Series
    from ttc.analysis.outputs import asked_rows, format_table, read_csv, to_csv, write_png
    from ttc.contracts.rundir import read_record, write_atomic

    rows, asked, series = [], [], Series()
    for run in sorted(r for r in runs if (r / "curves.csv").exists()):
        config, own = read_record(run)["config"], read_csv(run / "curves.csv")
        kept = series.take(run.name, config, own,
                           key=lambda r: (r["series"], r["verifier"], r["model"], r["budget_unit"]),
                           point=lambda r: (r["budget"], r["level"]),
                           value=lambda r: (r["accuracy"], r["flops_per_problem"]), tag=run.name)
        rows += kept
        selection = config["strategy"].get("selection")
        asked += asked_rows(kept, selection) or asked_rows(own, selection)  # a repeat: the earlier equal rows
    for note in series.notes:
        print(f"ttc: note: {note}", file=sys.stderr)
    if not rows:
        return
    write_atomic(sweep / "curves.csv", to_csv(rows))
    side.call(write_png, sweep / "curves.png", rows, str(sweep)).result()
    print(format_table(rows, asked=asked))
    print(f"sweep directory: {sweep}")
    if list((sweep / "wandb").glob("offline-run-*")):
        print(f"W&B (offline): upload the whole sweep with: wandb sync {sweep / 'wandb'}/offline-run-*")


def capped_jobs(sweep: Path) -> list[str]:
    """The jobs of a sweep that did not finish (a cap stopped them before or between batches): job directories
    (Hydra's `.hydra`) with no run.json or none that records an end."""
    from ttc.contracts.rundir import read_record

    out = []
    for job in sorted(p.parent for p in sweep.glob("*/.hydra")):
        record = read_record(job) if (job / "run.json").exists() else {}
        if "ended" not in (record.get("provenance") or {}):
            out.append(job.name)
    return out


def merge_sweep_shards(sweep: Path) -> list[Path]:
    """Merge the shard jobs of every sharded run of a sweep into `sweep/merged/NAME`; return the run
    directories to summarise (merged runs and unsharded jobs)."""
    from ttc.contracts.rundir import read_record, shard_of
    from ttc.harness.shards import merge, merged_name

    runs, shards = [], {}
    for record in sorted(sweep.glob("*/run.json")):
        if shard_of(read_record(record.parent)["config"])[1] > 1:
            shards.setdefault(merged_name(record.parent.name), []).append(record.parent)
        else:
            runs.append(record.parent)
    return runs + [merge(sweep / "merged" / name, dirs) for name, dirs in shards.items()]
