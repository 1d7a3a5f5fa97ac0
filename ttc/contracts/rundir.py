"""The run directory's files, read in one place: `run.json` (the record) and `samples.jsonl` (the lines).

Every reader of run directories (the analysis, the report, shard merging, the sweep summary) goes through
`read_record` and `read_samples`, so a corrupt, empty or wrong-shape file is one line naming the file, the
line and the fix, never a traceback, and the file is left as it is. Only a torn end (a kill mid-write) is left
out, as the writer's resume cuts it off (`scan_samples` is the one pass every reader and the resume share). A line is keyed by (problem, candidate): a repeated key is read once. Lines written
before lines carried a `curve` get it from their strategy name. Whole files are written with `write_atomic`
(temporary name, fsync, rename). Knows nothing about models.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ttc.contracts.errors import ConfigError
from ttc.contracts.samples import REQUIRED, SampleLine, legacy_curve

RECORD, SAMPLES = "run.json", "samples.jsonl"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a whole file under a temporary name, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def is_run_dir(path: Path) -> bool:
    """Whether `path` holds a per-sample record."""
    return (Path(path) / SAMPLES).exists()


def read_record(run_dir: str | Path) -> dict:
    """The run.json record of a run directory (config, meta, card, models, problems)."""
    path = Path(run_dir) / RECORD
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no {RECORD})")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); delete it to restart the run, or restore it") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise ConfigError(f"{path} has no 'config' object; it was not written by ttc (delete it to restart the run)")
    return record


def shard_of(config: dict) -> tuple[int, int]:
    """(shard, num_shards) of a run's config (top-level fields; older runs kept them in `task`)."""
    for node in (config, config.get("task") or {}):
        if "num_shards" in node:
            return int(node.get("shard", 0)), int(node["num_shards"])
    return 0, 1


@dataclass(frozen=True)
class SampleScan:
    """One pass over samples.jsonl: its lines (a repeated (problem, candidate) key read once), the problems whose
    every candidate is on disk, and where a torn tail starts (`tail`: the byte offset after the last finished
    problem's block when what follows it is a write a kill cut short; None when the file ends cleanly)."""

    lines: list[SampleLine]
    done: set[str]
    tail: int | None


def damaged(path: Path, n: int, why: str) -> ConfigError:
    """The one line for damage before the end of samples.jsonl: the file is left as it is."""
    return ConfigError(f"{path} line {n} {why}; the file was edited or damaged and is left untouched: restore it, "
                       f"or delete that line (sed -i '{n}d' {path}) and rerun to recompute only what is missing")


def scan_samples(run_dir: str | Path) -> SampleScan:
    """Read samples.jsonl once, for the resume and for every reader. Only the end may be torn (a kill mid-write
    of a problem's block: a last piece with no newline, and the block's whole lines before it); damage anywhere
    else raises `damaged`, naming the file, the line and the fix."""
    path = Path(run_dir) / SAMPLES
    if not path.exists():
        return SampleScan([], set(), None)
    raw = path.read_bytes()
    rows = raw.split(b"\n")
    lines: list[SampleLine] = []
    keys: set[tuple[str, int]] = set()
    count: dict[str, int] = {}
    done: set[str] = set()
    offset = good_end = 0
    for n, row in enumerate(rows, 1):
        last = n == len(rows)  # the piece after the final newline: empty, or a write the kill cut short
        offset += len(row) + 1
        if last:
            break
        if not row.strip():
            continue
        try:
            line = _checked(json.loads(row), path, n)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise damaged(path, n, "is not valid JSON") from None
        key = (line["problem_id"], line["candidate"])
        if key in keys:  # a block appended twice (two writers before the lock) counts once
            continue
        keys.add(key)
        lines.append(line)
        count[key[0]] = count.get(key[0], 0) + 1
        if count[key[0]] == line["n_candidates"]:
            done.add(key[0])
            good_end = offset
    return SampleScan(lines, done, good_end if good_end < len(raw) else None)


def read_samples(run_dir: str | Path) -> list[SampleLine]:
    """Every sample line of a run directory, checked against the schema; [] when there is none yet. A torn last
    line is left out (the writer's resume cuts it off); damage before it is one line (`damaged`)."""
    return scan_samples(run_dir).lines


def finished(lines: list[SampleLine]) -> list[SampleLine]:
    """The lines of problems whose every candidate is on disk (a partial block is no finished problem)."""
    count: dict[str, int] = {}
    for line in lines:
        count[line["problem_id"]] = count.get(line["problem_id"], 0) + 1
    return [x for x in lines if count[x["problem_id"]] == x["n_candidates"]]


def progress(run_dir: str | Path) -> tuple[int, int | None, int]:
    """(finished problems, problems the run is for (None if unrecorded), problems with a partial block)."""
    lines = read_samples(run_dir)
    return tally(lines, read_record(run_dir))


def tally(lines: list[SampleLine], record: dict) -> tuple[int, int | None, int]:
    """`progress` of a run already read: its lines and its run.json record."""
    done = {x["problem_id"] for x in finished(lines)}
    partial = {x["problem_id"] for x in lines} - done
    return len(done), record.get("problems"), len(partial)


def _checked(line: object, path: Path, n: int) -> SampleLine:
    if not isinstance(line, dict):
        raise damaged(path, n, "is not a JSON object")
    if "curve" not in line:
        line["curve"] = legacy_curve(line)
    missing = [k for k in REQUIRED if k not in line]
    if missing:
        raise damaged(path, n, f"has no field {missing[0]!r}")
    return line  # type: ignore[return-value]
