"""Sharded runs merge into exactly the unsharded run; a killed sharded sweep re-launches and completes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.contracts.errors import ConfigError
from ttc.harness.run import execute
from ttc.harness.shards import merge, merged_name, shard_batches
from ttc.harness.store import VOLATILE

BASE = ["strategy=majority", "strategy.n=4", "verifier=none", "task.per_level=3", "task.levels=[1,2,3]",
        "batch_size=2"]


def test_shards_are_whole_batches_that_partition_the_problems():
    items = list(range(11))
    parts = [shard_batches(items, 2, i, 3) for i in range(3)]
    assert parts[0] == [[0, 1], [6, 7]] and parts[1] == [[2, 3], [8, 9]] and parts[2] == [[4, 5], [10]]
    assert sorted(x for p in parts for b in p for x in b) == items
    assert shard_batches(items, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    with pytest.raises(ConfigError, match=r"shard=3 must be in 0..2 \(num_shards=3\)"):
        shard_batches(items, 2, 3, 3)
    with pytest.raises(ConfigError, match="num_shards=0 must be at least 1"):
        shard_batches(items, 2, 0, 0)
    assert merged_name("strategy=greedy,num_shards=2,shard=1") == "strategy=greedy,num_shards=2"
    assert merged_name("shard=0,task.shard_x=1") == "task.shard_x=1"


def _run(run_dir, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*BASE, *overrides])
    return execute(cfg, run_dir, quiet=True)


def _lines(path):
    out = read_samples(Path(path).parent)
    for line in out:
        for key in VOLATILE:
            line["ledger"].pop(key, None)
    return out


def test_merged_shards_equal_the_unsharded_run(tmp_path):
    _run(tmp_path / "full", [])
    shards = [tmp_path / f"s{i}" for i in range(3)]
    for i, d in enumerate(shards):
        _run(d, ["num_shards=3", f"shard={i}"])
    sizes = [len({x["problem_id"] for x in _lines(d / "samples.jsonl")}) for d in shards]
    assert sizes == [4, 3, 2]  # 9 problems in batches of 2: shard 0 has batches 0 and 3, ...
    with pytest.raises(ConfigError, match=r"shards \[2\] of 3 are missing"):
        merge(tmp_path / "m", shards[:2])
    out = merge(tmp_path / "merged", list(reversed(shards)))
    assert _lines(out / "samples.jsonl") == _lines(tmp_path / "full" / "samples.jsonl")
    assert (out / "curves.csv").read_bytes() == (tmp_path / "full" / "curves.csv").read_bytes()
    assert json.loads((out / "run.json").read_text())["problems"] == 9
    with pytest.raises(ConfigError, match="shard 1 given twice"):
        merge(tmp_path / "m", [*shards, shards[1]])
    # shard 2's first problem swapped for shard 1's first: a problem in two shards, refused with nothing written
    twin = tmp_path / "twin"
    shutil.copytree(shards[2], twin)
    theirs, mine = ((d / "samples.jsonl").read_text().splitlines(keepends=True) for d in (shards[1], twin))
    (twin / "samples.jsonl").write_text("".join(theirs[:4] + mine[4:]))  # 4 candidates a problem
    with pytest.raises(ConfigError, match=r"merge: problem \S+ appears in more than one shard"):
        merge(tmp_path / "dup", [*shards[:2], twin])
    assert not (tmp_path / "dup" / "run.json").exists() and not (tmp_path / "dup" / "samples.jsonl").exists()
    _run(tmp_path / "other", ["num_shards=3", "shard=2", "seed=1"])
    with pytest.raises(ConfigError, match="is not a shard of the same run"):
        merge(tmp_path / "m", [*shards[:2], tmp_path / "other"])


def test_an_unfinished_shard_is_refused_and_a_finished_one_loads_no_model(tmp_path, monkeypatch):
    d = tmp_path / "s0"
    _run(d, ["num_shards=2", "shard=0"])
    _run(tmp_path / "s1", ["num_shards=2", "shard=1"])
    samples = d / "samples.jsonl"
    kept = samples.read_text().splitlines()[:-4]  # the last problem's four lines are lost
    samples.write_text("\n".join(kept) + "\n")
    with pytest.raises(ConfigError, match=r"shard 0 of 2 .* has 4/5 problems done; re-launch"):
        merge(tmp_path / "m", [d, tmp_path / "s1"])
    import ttc.harness.components as components
    import ttc.harness.run as run_loop

    built = []
    real = components.build
    def spy(node, group, **given):
        built.append(group)
        return real(node, group, **given)

    for module in (run_loop, components):  # the run loop's own builds, and build_verifier's
        monkeypatch.setattr(module, "build", spy)
    _run(d, ["num_shards=2", "shard=0"])  # resumes: the missing problem's batch is redone
    assert "generator" in built
    built.clear()
    _run(d, ["num_shards=2", "shard=0"])  # finished: nothing to do, no model loaded
    assert "generator" not in built and "verifier" not in built
    merge(tmp_path / "m", [d, tmp_path / "s1"])


def _sweep(sweep_dir, cwd):
    args = ["-m", "hydra/launcher=local", "strategy=majority,sample", "strategy.n=2,4", "num_shards=2",
            "shard=0,1", "verifier=none", "task.per_level=4", "task.levels=[4,5]", "batch_size=1",
            f"hydra.sweep.dir={sweep_dir}", "hydra.launcher.timeout_min=10"]
    return subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", *args], cwd=cwd, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _find(root, *parts):
    """The one entry under `root` whose name holds every part (override dirnames escape some characters)."""
    [hit] = [p for p in root.iterdir() if all(x in p.name for x in parts)]
    return hit


def _job_pid(sweep, *overrides):
    """The pid of the submitit job given `overrides` (a local job's id is the pid of its controller)."""
    from submitit.core.utils import pickle_load

    for pkl in (sweep / ".submitit").glob("*/*_submitted.pkl"):
        if set(overrides) <= set(pickle_load(pkl).args[0]):
            return int(pkl.parent.name)
    raise AssertionError(f"no submitit job for {overrides}")


VICTIM = ("strategy=majority", "strategy.n=4", "shard=1")


@pytest.mark.slow  # ~2 min; the Ray and kill-storm tests (slow too) cover the same relaunch-and-merge path
def test_submitit_sweep_killed_midway_relaunches_and_matches_unsharded(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _sweep(sweep, tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            samples = _find(sweep, *VICTIM) / "samples.jsonl"
            if samples.exists() and samples.stat().st_size > 0:
                break
        except (ValueError, FileNotFoundError):
            pass
        time.sleep(0.05)
    controller = _job_pid(sweep, *VICTIM)
    children = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    for pid in [*map(int, children), controller]:  # the job's worker and its submitit controller, as on a lost node
        os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, "the sweep must notice the killed job"
    assert 0 < len(samples.read_text().splitlines()) < 16, "the kill should land mid-run"
    assert not (_find(sweep, *VICTIM) / "curves.csv").exists()
    assert not (sweep / "merged").exists()
    again = _sweep(sweep, tmp_path)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    assert len(samples.read_text().splitlines()) == 16  # 4 problems x 4 samples in shard 1
    merged = sweep / "merged"
    assert len(list(merged.iterdir())) == 4 and not any("shard=" in p.name for p in merged.iterdir())
    full = tmp_path / "full"
    _run(full, ["task.per_level=4", "task.levels=[4,5]", "batch_size=1"])
    mine = _find(merged, "strategy=majority", "strategy.n=4")
    assert (mine / "curves.csv").read_bytes() == (full / "curves.csv").read_bytes()
    assert "sweep directory" in out and (sweep / "curves.csv").exists()
