"""The run directory: resolved config, run metadata and the append-only per-sample record.

`samples.jsonl` has one line per problem x candidate; all lines of a problem are written with one `write` (the
prompt, reference and ledger on its first line only: ttc.contracts.samples.compact), flushed and fsynced, so a
kill leaves at most one torn block at the end, which `resume` cuts off (and nothing else: a line damaged before
the end stops the run with one line, the file untouched). Whole files (config, curves, plots) are written to a
temporary name and renamed. Knows nothing about models or strategies beyond the records it serialises (and the
fingerprints it is given).
"""

from __future__ import annotations

import json
import os
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import (RECORD, SAMPLES, TREES, SampleStream, drained, read_record, read_samples,
                                  write_atomic)
from ttc.contracts.samples import SampleLine, encode

if TYPE_CHECKING:
    from ttc.analysis.outputs import Curves, Draw

# settings that change what a run may spend or writes beside its record, not what it is: left out of the recorded
# config, so a rerun with other values resumes the run (budget_cap: ttc.harness.cap; trees: trees.jsonl)
NOT_IDENTITY = ("budget_cap", "trees")
VOLATILE = ("wall_s",)  # fields that legitimately differ between an interrupted and an uninterrupted run


class RunStore:
    """The writer's side of one run directory: binds it to a config, appends sample lines, finds done problems."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.samples_path = self.root / SAMPLES

    def recorded(self, config: dict, models: dict[str, str] | None = None) -> dict | None:
        """The run.json record if this directory already holds this run; refuse one holding another run:
        another config, or local models (`models`: config key -> fingerprint) whose files have changed."""
        if not (self.root / RECORD).exists():
            return None
        old = read_record(self.root)
        if not same_config({k: v for k, v in old["config"].items() if k not in NOT_IDENTITY}, config):
            raise ConfigError(
                f"run directory {self.root} holds a run with a different config; "
                f"pass hydra.run.dir=NEW_DIR or delete it"
            )
        for key, fingerprint in sorted((old.get("models") or {}).items()):
            if key in (models or {}) and models[key] != fingerprint:
                value = reduce(lambda node, part: node.get(part) if isinstance(node, dict) else None,
                               key.split("."), config)
                raise ConfigError(
                    f"run directory {self.root} holds samples made with {key}={value} before its files changed "
                    f"(retrained or replaced); pass hydra.run.dir=NEW_DIR or delete it"
                )
        return old

    def bind(self, config: dict, meta: dict) -> None:
        """Record what this run is; refuse a directory that holds a different run."""
        if self.recorded(config, meta.get("models")) is None:
            record = {"config": config, **meta}
            write_atomic(self.root / RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")

    def timing(self, entry: dict) -> None:
        """Append one batch's wall-clock to timing.jsonl (provenance, not part of the record)."""
        with open(self.root / "timing.jsonl", "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def finished(self, when: str) -> None:
        """Write the time the run first finished into run.json's provenance (once)."""
        record = read_record(self.root)
        prov = record.get("provenance")
        if isinstance(prov, dict) and "ended" not in prov:
            prov["ended"] = when
            write_atomic(self.root / RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")

    def done_ids(self) -> set[str]:
        """Ids of problems whose every candidate line is on disk (reading only; damage before the end raises)."""
        return drained(self.root).done

    def resume(self) -> set[str]:
        """The writer's resume: the finished problems, after cutting a torn end (the block a kill cut short).
        Nothing else is ever removed: damage before the end is one error line and the file stays as it was."""
        scan = drained(self.root)
        if scan.tail is not None:
            with open(self.samples_path, "r+b") as fh:
                fh.truncate(scan.tail)
        trees = self.root / TREES
        if trees.exists():  # a tree line is one write: a kill leaves at most a piece with no newline at the end
            with open(trees, "r+b") as fh:
                size = fh.seek(0, os.SEEK_END)
                end = size
                while end > 0:  # back to the last newline, a block at a time
                    start = max(0, end - 65536)
                    fh.seek(start)
                    cut = fh.read(end - start).rfind(b"\n")
                    if cut >= 0 or start == 0:
                        end = start + cut + 1
                        break
                    end = start
                if end != size:
                    fh.truncate(end)
        return scan.done

    def append(self, lines: list[SampleLine]) -> None:
        """Append one problem's lines with one write, flushed and fsynced."""
        _append(self.samples_path, encode(lines))

    def append_tree(self, line: dict) -> None:
        """Append one problem's search tree (ttc.contracts.trees) to trees.jsonl: one line, one write, before the
        problem's samples (a kill between them redoes the problem, and its tree is written again: the last wins)."""
        _append(self.root / TREES, json.dumps(line, separators=(",", ":")) + "\n")

    def write_curves(self, curves: Curves, draw: Draw) -> Any:
        """Write curves.csv (whole, by rename), then hand `draw` the path of curves.png, the rows and the title
        (ttc.analysis.outputs.write_png, here or in the side worker); returns what `draw` returns."""
        write_atomic(self.root / "curves.csv", curves.csv)
        return draw(self.root / "curves.png", curves.rows, curves.title)

    def samples(self) -> list[SampleLine]:
        """Every line on disk, checked against the schema."""
        return read_samples(self.root)

    def problems(self) -> SampleStream:
        """The finished problems' lines, one problem at a time (one pass, one problem's block in memory)."""
        return SampleStream(self.root)


def same_config(old: Any, new: Any) -> bool:
    """Whether a recorded config and this run's are one run: equal, except that a setting added since the record
    was written (absent from it) is the same run at its null default, which is the behaviour before it existed."""
    if isinstance(old, dict) and isinstance(new, dict):
        return (set(old) <= set(new) and all(same_config(old[k], new[k]) for k in old)
                and all(new[k] is None for k in set(new) - set(old)))
    return old == new


def _append(path: Path, text: str) -> None:
    """Append `text` with one write, flushed and fsynced."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
