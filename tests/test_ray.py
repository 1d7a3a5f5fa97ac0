"""A real Ray cluster on this machine: a sharded sweep through `hydra/launcher=ray_cluster`, one Ray worker
killed mid-run, the sweep re-launched, and the merged curves equal to the unsharded run's byte for byte."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.lock import LOCK
from ttc.harness.run import execute

pytestmark = pytest.mark.slow
RAY = Path(sys.executable).with_name("ray")
WORK = ["strategy=majority", "strategy.n=4", "verifier=none", "task.per_level=6", "task.levels=[4,5]", "batch_size=1"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def head(tmp_path):
    """A local Ray head (its workers inherit this environment: offline hub, W&B off), stopped afterwards."""
    if not RAY.exists():
        pytest.skip("ray is not installed (pip install -e .[ray])")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, env=env,
                   capture_output=True, timeout=120)
    yield f"127.0.0.1:{port}"
    subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


def _sweep(sweep_dir, address, cwd):
    """The README's Ray command, pointed at this head, sized for two CPUs and no GPU, and without Ray's own
    task retries so that the killed worker fails the sweep and the re-launch does the resuming."""
    args = ["-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}",
            "hydra.launcher.ray.remote.num_cpus=1", "hydra.launcher.ray.remote.num_gpus=0",
            "hydra.launcher.ray.remote.max_retries=0", "num_shards=2", "shard=0,1", *WORK,
            f"hydra.sweep.dir={sweep_dir}"]
    return subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", *args], cwd=cwd, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _victim(sweep):
    [hit] = [p for p in sweep.iterdir() if "shard=1" in p.name]
    return hit


def _holder(run_dir):
    """The pid of the Ray worker writing `run_dir`, read from the run lock (see ttc.harness.lock)."""
    return int((run_dir / LOCK).read_text().split()[1])


def test_ray_sweep_with_a_killed_worker_relaunches_and_matches_unsharded(head, tmp_path):
    sweep = tmp_path / "sweep"
    proc = _sweep(sweep, head, tmp_path)
    deadline, samples = time.time() + 300, None
    while time.time() < deadline:
        try:
            samples = _victim(sweep) / "samples.jsonl"
            if samples.exists() and samples.stat().st_size > 0:
                break
        except (ValueError, FileNotFoundError):
            pass
        time.sleep(0.02)
    os.kill(_holder(samples.parent), signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, "the sweep must notice the killed worker"
    done = len(samples.read_text().splitlines())
    assert 0 < done < 24, f"the kill should land mid-run ({done} lines)"  # 6 problems x 4 samples in shard 1
    assert not (samples.parent / "curves.csv").exists() and not (sweep / "merged").exists()
    again = _sweep(sweep, head, tmp_path)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    assert len(samples.read_text().splitlines()) == 24
    [merged] = list((sweep / "merged").iterdir())
    assert "shard=" not in merged.name
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=WORK)
    full = tmp_path / "full"
    execute(cfg, full, quiet=True)
    assert (merged / "curves.csv").read_bytes() == (full / "curves.csv").read_bytes()
