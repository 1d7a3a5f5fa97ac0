"""The side worker (ttc.harness.side): curves.png and the W&B mirror made in a second process give the same
files as in the run's own process, the run's process never imports matplotlib or W&B, and a worker that fails
or dies costs one warning line (W&B) or nothing (the figure is drawn here instead)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.outputs import read_csv, title_of, write_png
from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.harness.side import InProcess, SideWorker, warm
from ttc.harness.run import execute
from test_wandb import _records

SMALL = ["strategy=majority", "strategy.n=2", "verifier=none", "task.per_level=2", "task.levels=[1,2]", "batch_size=2"]
SCRIPT = textwrap.dedent("""
    import json, sys
    from ttc.harness import cli

    if __name__ == "__main__":  # the worker is spawned: it imports this module again, without running it
        sys.argv = ["ttc", *sys.argv[1:]]
        cli.main(beside=True)
        print(json.dumps({m: m in sys.modules for m in ("matplotlib", "wandb")}))
""")


def _cfg(*extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[*SMALL, *extra])


@pytest.fixture
def worker():
    side = SideWorker()
    side.call(warm)
    yield side
    side.stop()


def test_the_run_leaves_drawing_and_wandb_to_the_worker_and_the_files_are_the_same(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}
    res = subprocess.run([sys.executable, str(script), *SMALL, "logger=wandb", f"hydra.run.dir={tmp_path / 'r'}"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**env, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    imported = json.loads(res.stdout.strip().splitlines()[-1])
    assert imported == {"matplotlib": False, "wandb": False}, "the run's own process imported what the worker does"
    run = tmp_path / "r"
    write_png(tmp_path / "here.png", read_csv(run / "curves.csv"), title_of(read_samples(run)))
    assert (run / "curves.png").read_bytes() == (tmp_path / "here.png").read_bytes()
    [offline] = list((run / "wandb").glob("offline-run-*"))
    assert json.loads((run / "logged.json").read_text())["wandb"] == str(offline)
    assert f"wandb sync {offline}" in res.stdout
    kinds = [r.WhichOneof("record_type") for r in _records(next(offline.glob("run-*.wandb")))]
    assert kinds.count("exit") == 1 and "artifact" in kinds, "the W&B run was finished in the worker"


def test_a_run_with_a_worker_equals_one_without(tmp_path, worker):
    here = execute(_cfg("logger=none"), tmp_path / "here", quiet=True, side=worker)
    worker.stop()
    alone = execute(_cfg("logger=none"), tmp_path / "alone", quiet=True)  # the default: InProcess
    assert here == alone
    assert (tmp_path / "here" / "curves.png").read_bytes() == (tmp_path / "alone" / "curves.png").read_bytes()


def test_a_dead_worker_leaves_the_figure_to_the_run_and_wandb_to_one_warning(tmp_path, worker, capfd, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    worker._worker.proc.kill()
    worker._worker.proc.join()
    rows = execute(_cfg("logger=wandb"), tmp_path / "r", quiet=True, side=worker)
    assert rows and (tmp_path / "r" / "curves.png").stat().st_size > 10_000
    err = [x for x in capfd.readouterr().err.splitlines() if x.startswith("ttc:")]
    assert len(err) <= 1 and all("the W&B mirror failed" in x for x in err)
    assert not worker.active()  # later calls run here


def test_a_failing_mirror_in_the_worker_is_one_warning_and_changes_nothing(tmp_path, worker, capfd, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    expected = execute(_cfg("logger=none"), tmp_path / "plain", quiet=True, side=worker)
    run = tmp_path / "r"
    assert execute(_cfg("logger=wandb", f"logger.tags=[{'x' * 100}]"), run, quiet=True,
                   side=worker) == expected  # W&B: tags <= 64
    err = [x for x in capfd.readouterr().err.splitlines() if x.startswith("ttc:")]
    assert len(err) == 1 and "the W&B mirror failed" in err[0], err
    assert not (run / "logged.json").exists()
    assert (run / "curves.png").read_bytes() == (tmp_path / "plain" / "curves.png").read_bytes()


def test_a_run_killed_outright_takes_its_worker_with_it(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", *SMALL[:3], "logger=none", "task.per_level=40",
                             f"hydra.run.dir={tmp_path / 'r'}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 120
    while not (tmp_path / "r" / "samples.jsonl").exists() and time.time() < deadline:  # the worker is up by then
        time.sleep(0.2)
    kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert kids, "the run has no side worker"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def alive(pid: str) -> bool:
        try:
            return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
        except OSError:
            return False

    deadline = time.time() + 10
    while any(map(alive, kids)) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, kids)), "a worker outlived its run"


def test_the_worker_is_an_object_stopped_on_every_path_and_null_without_one():
    """Calls go to the worker's process, in order; a stopped one (twice is fine) runs them here; `now` kills one
    busy with a call at once; the default (InProcess) runs each call here and now; a worker pickled into another
    process (a launcher's job) arrives there as InProcess."""
    import pickle
    import time

    side = SideWorker()
    assert side.active() and side.call(os.getpid).result() != os.getpid()
    side.stop()
    side.stop()
    assert not side.active() and side.call(os.getpid).result() == os.getpid()
    busy = SideWorker()
    busy.call(time.sleep, 60)
    t0 = time.monotonic()
    busy.stop(now=True)
    assert time.monotonic() - t0 < 10 and not busy.active()
    here = InProcess()
    assert not here.active() and here.call(os.getpid).result() == os.getpid()
    with pytest.raises(ZeroDivisionError):
        here.call(divmod, 1, 0).result()
    live = SideWorker()
    try:
        assert type(pickle.loads(pickle.dumps(live))) is InProcess
    finally:
        live.stop()
