"""Sharding a run's problems across jobs, and merging the shards' run directories back into one.

A shard is a set of whole batches: with `batch_size` b the task's problems are cut into batches of b in task
order, and shard i of k takes batches i, i+k, i+2k, ... So every problem is computed in exactly the batch an
unsharded run would compute it in, and the merged record is line for line what that run writes (sample
seeds and tie-breaks hang on problem ids, never on the shard).

`merge` checks that the shards are one run (configs equal but for `shard`), all present and finished,
and disjoint; it writes their lines in task order into a new run directory and derives its curves, in one
pass over the shards that holds one problem's lines at a time.
Knows nothing about models or strategies.
"""

from __future__ import annotations

import copy
import heapq
import json
import re
from itertools import repeat
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence, TypeVar

from ttc.contracts.cards import pretraining_flops
from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import SAMPLES, TREES, atomic, read_record, read_trees, shard_of
from ttc.contracts.samples import encode
from ttc.harness.lock import RunLock
from ttc.harness.store import RunStore

T = TypeVar("T")
SHARD_KEYS = ("shard", "num_shards")


def check_shard(shard: int, num_shards: int) -> None:
    """Refuse a shard index outside 0..num_shards-1 or fewer than one shard."""
    if num_shards < 1:
        raise ConfigError(f"num_shards={num_shards} must be at least 1")
    if not 0 <= shard < num_shards:
        raise ConfigError(f"shard={shard} must be in 0..{num_shards - 1} (num_shards={num_shards})")


def shard_batches(items: Sequence[T], batch_size: int, shard: int = 0, num_shards: int = 1) -> list[list[T]]:
    """This shard's batches: batch j of the unsharded run belongs to shard j % num_shards."""
    check_shard(shard, num_shards)
    batches = [list(items[i:i + batch_size]) for i in range(0, len(items), batch_size)]
    return batches[shard::num_shards]


def unsharded(config: dict) -> dict:
    """The config without the shard fields: what every shard of one run shares."""
    out = copy.deepcopy(config)
    for key in SHARD_KEYS:
        out.pop(key, None)
        out.get("task", {}).pop(key, None)  # where runs before the move kept them
    return out


def merged_name(job_dir_name: str) -> str:
    """A sweep job's directory name with its `shard=i` override taken out."""
    name = re.sub(r"(^|,)shard=\d+(?=,|$)", "", job_dir_name).strip(",")
    return name or "merged"


def merge(out_dir: str | Path, shard_dirs: Sequence[str | Path]) -> Path:
    """Merge finished shard run directories into `out_dir` (refused if it holds another run)."""
    dirs = [Path(d) for d in shard_dirs]
    if not dirs:
        raise ConfigError("merge: no shard directories given")
    records = [read_record(d) for d in dirs]
    base = unsharded(records[0]["config"])
    k = shard_of(records[0]["config"])[1]
    seen: dict[int, Path] = {}
    for d, rec in zip(dirs, records):
        if unsharded(rec["config"]) != base:
            raise ConfigError(f"merge: {d} is not a shard of the same run as {dirs[0]} (configs differ beyond shard)")
        i = shard_of(rec["config"])[0]
        if i in seen:
            raise ConfigError(f"merge: shard {i} given twice ({seen[i]} and {d})")
        seen[i] = d
        done, want = len(RunStore(d).done_ids()), rec.get("problems")
        if want is not None and done != want:
            raise ConfigError(f"merge: shard {i} of {k} ({d}) has {done}/{want} problems done; "
                              f"re-launch the same command or sweep to finish it")
    missing = sorted(set(range(k)) - set(seen))
    if missing:
        raise ConfigError(f"merge: shards {missing} of {k} are missing; have {sorted(seen)}")
    with RunLock(out_dir):
        return _write_merged(RunStore(out_dir), base, records, dirs)


def _in_order(dirs: list[Path]) -> Iterator[list[dict]]:
    """Every shard's problems, one problem's lines at a time, in task order (each shard's file is in task order,
    as the run loop writes it; the shards' streams are merged by problem index); a problem in two shards is
    refused."""
    owner: dict[str, Path] = {}
    tagged = [zip(RunStore(d).problems(), repeat(d)) for d in dirs]
    for lines, here in heapq.merge(*tagged, key=lambda item: item[0][0]["problem_index"]):
        pid = lines[0]["problem_id"]
        if owner.setdefault(pid, here) != here:
            raise ConfigError(f"merge: problem {pid} appears in more than one shard ({owner[pid]} and {here})")
        yield lines


def _write_merged(out: RunStore, base: dict, records: list[dict], dirs: list[Path]) -> Path:
    """Write the merged lines and derive their curves in one pass, then bind the merged run directory and put its
    samples.jsonl in place (under its lock)."""
    from ttc.analysis.outputs import derive_curves, write_png  # plotting imports only when merging

    head = {key: records[0][key] for key in ("meta", "card") if key in records[0]}
    out.recorded(base)  # a directory holding another run is refused before any work
    with atomic(out.root / SAMPLES) as fh:  # nothing is bound or renamed into place if the pass refuses
        curves = derive_curves(_written(_in_order(dirs), fh), pretraining_flops(records[0].get("card")))
        out.bind(base, {**head, "problems": sum(r.get("problems", 0) for r in records),
                        "merged_from": sorted(str(d.resolve()) for d in dirs)})
    if any((d / TREES).exists() for d in dirs):  # the shards' search trees, whole lines only (read_trees checks)
        with atomic(out.root / TREES) as fh:
            for d in dirs:
                for pid, nodes in read_trees(d).items():
                    fh.write((json.dumps({"problem_id": pid, "nodes": nodes}, separators=(",", ":")) + "\n").encode())
    out.write_curves(curves, write_png)
    return out.root


def _written(problems: Iterator[list[dict]], fh: BinaryIO) -> Iterator[list[dict]]:
    """Pass each problem's lines on after writing them to `fh` (as the run store writes a block)."""
    for lines in problems:
        fh.write(encode(lines).encode())
        yield lines
