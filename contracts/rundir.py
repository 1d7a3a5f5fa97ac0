"""The run directory's files, read in one place: `run.json` (the record) and `samples.jsonl` (the lines).

Every reader of run directories (the analysis, the report, shard merging, the sweep summary) goes through
`read_record` and `read_samples`, so a corrupt, empty or wrong-shape file is one line naming the file, the
line and the fix, never a traceback. A torn last line (a kill mid-write) is left out, as the writer's
resume cuts it off. A line is keyed by (problem, candidate): a repeated key is read once. Lines written
before lines carried a `curve` get it from their strategy name. Whole files are written with `write_atomic`
(temporary name, fsync, rename). Knows nothing about models.
"""

from __future__ import annotations

import json
import os
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


def read_samples(run_dir: str | Path) -> list[SampleLine]:
    """Every sample line of a run directory, checked against the schema; [] when there is none yet."""
    path = Path(run_dir) / SAMPLES
    if not path.exists():
        return []
    raw = path.read_bytes()
    rows = raw.split(b"\n")
    lines: list[SampleLine] = []
    keys: set[tuple[str, int]] = set()
    for n, row in enumerate(rows, 1):
        if not row.strip():
            continue
        torn = n == len(rows)  # the last piece has no newline after it: a write the kill cut short
        try:
            line = json.loads(row)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if torn:
                break
            raise ConfigError(f"{path} line {n} is not valid JSON; the file was edited or damaged "
                              f"(restore it, or delete the run directory to redo the run)") from None
        if torn:
            break
        line = _checked(line, path, n)
        key = (line["problem_id"], line["candidate"])
        if key not in keys:  # a block appended twice (two writers before the lock) counts once
            keys.add(key)
            lines.append(line)
    return lines


def finished(lines: list[SampleLine]) -> list[SampleLine]:
    """The lines of problems whose every candidate is on disk (a partial block is no finished problem)."""
    count: dict[str, int] = {}
    for line in lines:
        count[line["problem_id"]] = count.get(line["problem_id"], 0) + 1
    return [x for x in lines if count[x["problem_id"]] == x["n_candidates"]]


def progress(run_dir: str | Path) -> tuple[int, int | None, int]:
    """(finished problems, problems the run is for (None if unrecorded), problems with a partial block)."""
    lines = read_samples(run_dir)
    done = {x["problem_id"] for x in finished(lines)}
    partial = {x["problem_id"] for x in lines} - done
    return len(done), read_record(run_dir).get("problems"), len(partial)


def _checked(line: object, path: Path, n: int) -> SampleLine:
    if not isinstance(line, dict):
        raise ConfigError(f"{path} line {n} is not a JSON object; the file was not written by ttc")
    if "curve" not in line:
        line["curve"] = legacy_curve(line)
    missing = [k for k in REQUIRED if k not in line]
    if missing:
        raise ConfigError(f"{path} line {n} has no field {missing[0]!r}; the file was edited or written by "
                          f"another tool (restore it, or delete the run directory to redo the run)")
    return line  # type: ignore[return-value]
