"""Every `ttc` process ends once its work is done: a finished run rerun, fresh short runs, a shard and a sweep
(the side worker used to be joined at exit while it waited for work: 3 of 4 reruns of a finished run hung).
A hung process never exits, so each is given a limit far above its work (no dependence on the machine's speed)."""

import os
import subprocess
import sys

import pytest

SMALL = ["strategy=greedy", "verifier=none", "logger=none", "task.per_level=1"]  # 5 problems
LIMIT_S = 180


def ttc(*args, cwd):
    proc = subprocess.Popen([sys.executable, "-c", "from ttc.harness.cli import entry; entry()", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"ttc {' '.join(args)} did not exit within {LIMIT_S} s")
    assert proc.returncode == 0, err[-2000:]
    return out, err


def test_a_finished_run_rerun_five_times_exits_each_time_saying_so(tmp_path):
    run = f"hydra.run.dir={tmp_path / 'r'}"
    first, _ = ttc(*SMALL, run, cwd=tmp_path)
    for _ in range(5):
        out, err = ttc(*SMALL, run, cwd=tmp_path)
        assert "ttc: nothing left to do: all 5 problems" in err and out == first


def test_fresh_runs_shards_and_sweeps_exit(tmp_path):
    for i in range(5):
        ttc(*SMALL, f"seed={i}", f"hydra.run.dir={tmp_path / f'fresh{i}'}", cwd=tmp_path)
    ttc(*SMALL, "num_shards=2", "shard=1", f"hydra.run.dir={tmp_path / 'shard'}", cwd=tmp_path)
    out, _ = ttc("-m", *SMALL, "strategy.max_tokens=40,60", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert f"sweep directory: {tmp_path / 'sweep'}" in out
