"""The run directory's files, read in one place: `run.json` (the record) and `samples.jsonl` (the lines).

Every reader of run directories (the analysis, the report, shard merging, the sweep summary) goes through
`read_record` and `SampleStream`, so a corrupt, empty or wrong-shape file is one line naming the file, the
line and the fix, never a traceback, and the file is left as it is. `SampleStream` is the one pass over
samples.jsonl: it yields a problem's lines when its block is finished, so a reader holds one problem, not the
file (curves, merge and the report of a 512,000-line pool stay within a few hundred MB); `read_samples` keeps
every line, for small readers and tests. Only a torn end (a kill mid-write) is left out, as the writer's resume
cuts it off. A line is keyed by (problem, candidate): a repeated key is read once. A line that names `shared`
fields gets them back from its problem's first line (ttc.contracts.samples.compact); lines written before
lines carried a `curve` get it from their strategy name. Whole files are written with `write_atomic` or
`atomic` (temporary name, fsync, rename). Knows nothing about models.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ttc.contracts.errors import ConfigError
from ttc.contracts.samples import REQUIRED, SampleLine, legacy_curve, restore
from ttc.contracts.trees import FATES

RECORD, SAMPLES, TREES = "run.json", "samples.jsonl", "trees.jsonl"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a whole file under a temporary name, flush it to disk, then rename it into place."""
    with atomic(path) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


@contextmanager
def atomic(path: Path) -> Iterator[BinaryIO]:
    """A file written piece by piece under a temporary name, flushed to disk and renamed into place when the
    block ends (the temporary file is removed if it raises: `path` is never half written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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


def damaged(path: Path, n: int, why: str) -> ConfigError:
    """The one line for damage before the end of samples.jsonl: the file is left as it is."""
    return ConfigError(f"{path} line {n} {why}; the file was edited or damaged and is left untouched: restore it, "
                       f"or delete that line (sed -i '{n}d' {path}) and rerun to recompute only what is missing")


class SampleStream:
    """One pass over samples.jsonl, a problem at a time: iterating yields each finished problem's lines (sorted by
    candidate, whole again: see ttc.contracts.samples.compact) as its last line is read, so memory holds one
    problem's block, not the file. Only the end may be torn (a kill mid-write of a problem's block: a last piece
    with no newline, and the block's whole lines before it); damage anywhere else raises `damaged`, naming the
    file, the line and the fix. After the pass: `done` (finished problems), `partial` (problem -> the lines of
    a block not finished) and `tail` (the byte offset after the last finished problem's block when what follows
    it is a write a kill cut short; None when the file ends cleanly)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / SAMPLES
        self.done: set[str] = set()
        self.partial: dict[str, list[SampleLine]] = {}
        self.tail: int | None = None

    def __iter__(self) -> Iterator[list[SampleLine]]:
        if not self.path.exists():
            return
        pending: dict[str, dict[int, SampleLine]] = {}
        offset = good_end = 0
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            for n, row in enumerate(fh, 1):
                offset += len(row)
                if not row.endswith(b"\n"):
                    break  # the piece after the final newline: a write the kill cut short
                if not row.strip():
                    continue
                line = self._parsed(row, n)
                if line.get("problem_id") in self.done:
                    continue  # a block appended twice (two writers before the lock) counts once
                line = self._whole(line, n, pending)
                pid = line["problem_id"]
                block = pending.setdefault(pid, {})
                if line["candidate"] in block:
                    continue
                block[line["candidate"]] = line
                if len(block) == line["n_candidates"]:
                    self.done.add(pid)
                    good_end = offset
                    yield [block[c] for c in sorted(pending.pop(pid))]
        self.partial = {pid: [b[c] for c in sorted(b)] for pid, b in pending.items() if b}
        self.tail = good_end if good_end < size else None

    def _parsed(self, row: bytes, n: int) -> dict:
        """Line `n` as a JSON object."""
        try:
            line = json.loads(row)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise damaged(self.path, n, "is not valid JSON") from None
        if not isinstance(line, dict):
            raise damaged(self.path, n, "is not a JSON object")
        return line

    def _whole(self, line: dict, n: int, pending: dict[str, dict[int, SampleLine]]) -> SampleLine:
        """Line `n` made whole from its problem's first line (the first of its block in `pending`), checked."""
        if line.get("shared"):
            head = next(iter(pending.get(line.get("problem_id"), {}).values()), None)
            if head is None or not set(line["shared"]) <= set(head):
                raise damaged(self.path, n, f"takes {line['shared']} from its problem's first line, which is not "
                                            f"before it")
            restore(line, head)
        return _checked(line, self.path, n)


def drained(run_dir: str | Path) -> SampleStream:
    """A run's stream read to its end, keeping no finished line: its `done`, `partial` and `tail`."""
    stream = SampleStream(run_dir)
    for _ in stream:
        pass
    return stream


def read_samples(run_dir: str | Path) -> list[SampleLine]:
    """Every sample line of a run directory, checked against the schema, finished problems first, then those of
    unfinished blocks; [] when there is none yet. A torn last line is left out (the writer's resume cuts it off);
    damage before it is one line (`damaged`). Readers of large runs iterate `SampleStream` instead."""
    stream = SampleStream(run_dir)
    lines = [line for block in stream for line in block]
    return lines + [line for block in stream.partial.values() for line in block]


def _checked(line: dict, path: Path, n: int) -> SampleLine:
    if "curve" not in line:
        line["curve"] = legacy_curve(line)
    missing = [k for k in REQUIRED if k not in line]
    if missing:
        raise damaged(path, n, f"has no field {missing[0]!r}")
    return line  # type: ignore[return-value]


def read_trees(run_dir: str | Path) -> dict[str, list[dict]]:
    """problem id -> its recorded search tree (trees.jsonl, ttc.contracts.trees); {} where none was written. A
    torn last line is left out (the writer's resume cuts it); damage before it is one line (`damaged`); a problem
    written twice (its block redone after a kill between its tree and its samples) keeps its last tree."""
    path = Path(run_dir) / TREES
    out: dict[str, list[dict]] = {}
    if not path.exists():
        return out
    with open(path, "rb") as fh:
        for n, row in enumerate(fh, 1):
            if not row.endswith(b"\n"):
                break
            try:
                line = json.loads(row)
            except (json.JSONDecodeError, UnicodeDecodeError):
                line = None
            if not isinstance(line, dict) or "problem_id" not in line or not well_formed(line.get("nodes")):
                raise ConfigError(f"{path} line {n} is not a tree line (JSON with problem_id and nodes: ids their "
                                  f"indices, each parent before its child, known fates); the file was "
                                  f"edited or damaged and is left untouched: restore it, or delete that line "
                                  f"(sed -i '{n}d' {path}; that problem's tree is then not shown)")
            out[line["problem_id"]] = line["nodes"]
    return out


def well_formed(nodes: object) -> bool:
    """A recorded tree as its readers need it (ttc.contracts.trees): a list of nodes whose ids are their indices,
    node 0 the root, every other node's parent an earlier node, every fate known, every score a number or None."""
    if not isinstance(nodes, list) or not nodes:
        return False
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or node.get("id") != i or node.get("fate") not in FATES:
            return False
        parent, score = node.get("parent"), node.get("score")
        if (parent is not None if i == 0 else not (isinstance(parent, int) and 0 <= parent < i)):
            return False
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            return False
    return True
