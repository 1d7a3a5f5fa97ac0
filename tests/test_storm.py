"""The long kill storm: `kill -9` at seeded random points of a run and of a shard merge, each resumed with the
same command, ends with the files of an uninterrupted run (nothing lost, nothing counted twice)."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ttc.contracts.rundir import read_samples
from ttc.harness.store import VOLATILE

pytestmark = pytest.mark.slow
RUN = ["strategy=majority", "strategy.n=4", "verifier=none", "task.per_level=4", "batch_size=2", "logger=none"]
KILLS = 8


def _ttc(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _timed(args, cwd):
    start = time.perf_counter()
    proc = _ttc(args, cwd)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    return time.perf_counter() - start


def _storm(args, cwd, span, rng):
    """Start `args` again and again, each killed after a random share of `span` seconds, then let it finish.
    Returns how many of the kills landed (the process was still running)."""
    landed = 0
    for _ in range(KILLS):
        proc = _ttc(args, cwd)
        time.sleep(rng.uniform(0.1, span))
        landed += _kill(proc)
    assert _ttc(args, cwd).wait(timeout=600) == 0
    return landed


def _kill(proc):
    """SIGKILL `proc` if it still runs; 1 if it did."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return int(alive)


def _storm_by_progress(args, cwd, samples, total, rng):
    """Kill a run once at a random moment of its start-up, then each time its samples file reaches one of
    KILLS random line counts (sorted, seeded), resuming in between; then let it finish."""
    proc = _ttc(args, cwd)
    time.sleep(rng.uniform(0.1, 2.0))
    landed = _kill(proc)
    for target in sorted(rng.sample(range(1, total), KILLS)):
        proc = _ttc(args, cwd)
        while proc.poll() is None and (not samples.exists() or len(samples.read_bytes().splitlines()) < target):
            time.sleep(0.01)
        landed += _kill(proc)
    assert _ttc(args, cwd).wait(timeout=600) == 0
    return landed


def _stable(path):
    lines = read_samples(path.parent)
    for line in lines:
        for key in VOLATILE:
            line["ledger"].pop(key, None)
    return lines


def test_kill_storm_on_a_run_and_on_a_merge_ends_with_the_uninterrupted_files(tmp_path):
    rng = random.Random(0)
    full = tmp_path / "full"
    _timed([*RUN, f"hydra.run.dir={full}"], tmp_path)
    cut = tmp_path / "cut"
    total = len((full / "samples.jsonl").read_text().splitlines())
    landed = _storm_by_progress([*RUN, f"hydra.run.dir={cut}"], tmp_path, cut / "samples.jsonl", total, rng)
    assert landed == KILLS + 1, f"only {landed} of {KILLS + 1} kills landed mid-run"
    assert _stable(cut / "samples.jsonl") == _stable(full / "samples.jsonl")
    assert (cut / "curves.csv").read_bytes() == (full / "curves.csv").read_bytes()

    shards = [tmp_path / f"s{i}" for i in range(2)]
    for i, d in enumerate(shards):
        _timed([*RUN, "num_shards=2", f"shard={i}", f"hydra.run.dir={d}"], tmp_path)
    once = tmp_path / "merged_once"
    merge_span = _timed(["merge", str(once), *map(str, shards)], tmp_path)
    storm = tmp_path / "merged_storm"
    landed = _storm(["merge", str(storm), *map(str, shards)], tmp_path, merge_span, rng)
    assert landed >= 1, "no kill landed during a merge"
    assert _stable(storm / "samples.jsonl") == _stable(full / "samples.jsonl")
    for d in (once, storm):
        assert (d / "curves.csv").read_bytes() == (full / "curves.csv").read_bytes()
