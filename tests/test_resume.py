"""A run killed at any point and started again with the same command ends with the same files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.contracts.errors import ConfigError
from ttc.generators.models import resolve_model
from ttc.harness.run import execute
from ttc.contracts.samples import REQUIRED
from ttc.harness.store import VOLATILE, RunStore

ARGS = ["strategy=majority", "strategy.n=4", "verifier=none", "task.per_level=4", "batch_size=4"]


def _ttc(run_dir, cwd):
    return subprocess.Popen([sys.executable, "-m", "ttc.harness.cli", *ARGS, f"hydra.run.dir={run_dir}"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stable(path):
    lines = read_samples(path.parent)
    for line in lines:
        for key in VOLATILE:
            line["ledger"].pop(key, None)
    return lines


def test_kill_and_resume_gives_the_same_files(tmp_path):
    full = _ttc(tmp_path / "full", tmp_path)
    assert full.wait(timeout=300) == 0, full.stderr.read()[-2000:]
    proc = _ttc(tmp_path / "cut", tmp_path)
    samples = tmp_path / "cut" / "samples.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not samples.exists() or samples.stat().st_size == 0):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(samples.read_text().splitlines())
    assert 0 < written < 80, "the kill should land mid-run"
    resumed = _ttc(tmp_path / "cut", tmp_path)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-2000:]
    assert _stable(samples) == _stable(tmp_path / "full" / "samples.jsonl")
    for name in ("curves.csv", "curves.png"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    cut, full = (json.loads((tmp_path / d / "run.json").read_text()) for d in ("cut", "full"))
    cut.pop("provenance"), full.pop("provenance")  # when and by which command: differs by nature
    assert cut == full  # the record itself is identical


def test_torn_tail_and_partial_problem_are_cut_off(tmp_path):
    store = RunStore(tmp_path)

    def line(pid, n, i):  # a schema-complete sample line
        return {**dict.fromkeys(REQUIRED), "problem_id": pid, "n_candidates": n, "candidate": i}

    store.append([line("a", 2, i) for i in range(2)])
    store.append([line("b", 2, 0)])  # its second line never came
    with open(store.samples_path, "a") as fh:
        fh.write('{"problem_id": "c", "n_cand')  # killed mid-write
    assert store.done_ids() == {"a"}
    assert (tmp_path / "samples.jsonl").read_text().count("\n") == 3, "reading alone never cuts"
    assert store.resume() == {"a"}
    assert [x["problem_id"] for x in store.samples()] == ["a", "a"]
    store.append([line("b", 1, 0)])
    assert store.done_ids() == {"a", "b"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    full = tmp_path_factory.mktemp("finished") / "full"
    proc = _ttc(full, full.parent)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    return full


def test_a_damaged_middle_line_is_refused_and_the_file_left_byte_identical(tmp_path, finished_run):
    """One damaged line in the first problem's block: one error line naming the file, the line and the fix; no
    batch is generated again and not a byte of the record changes (the finished problems after it are kept)."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    samples = run / "samples.jsonl"
    rows = samples.read_bytes().split(b"\n")
    rows[1] = rows[1][: len(rows[1]) // 2]  # a line cut short before the end of the file
    samples.write_bytes(b"\n".join(rows))
    before, timing = samples.read_bytes(), (run / "timing.jsonl").read_bytes()
    proc = _ttc(run, tmp_path)
    assert proc.wait(timeout=300) == 2
    err = proc.stderr.read()
    assert [x for x in err.splitlines() if x.strip()] == [err.strip()] and "line 2" in err, err
    assert str(samples) in err and "sed -i '2d'" in err, err
    assert samples.read_bytes() == before and (run / "timing.jsonl").read_bytes() == timing


def test_a_torn_last_line_resumes_to_the_uninterrupted_files(tmp_path, finished_run):
    full = finished_run
    run = tmp_path / "torn"
    shutil.copytree(full, run)
    samples = run / "samples.jsonl"
    blob = samples.read_bytes()
    samples.write_bytes(blob[: len(blob) - 40])  # the last line cut short, as a kill mid-write leaves it
    (run / "curves.csv").unlink()
    proc = _ttc(run, tmp_path)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    assert _stable(samples) == _stable(full / "samples.jsonl")
    assert (run / "curves.csv").read_bytes() == (full / "curves.csv").read_bytes()


def test_resume_refuses_samples_of_a_retrained_model(tmp_path):
    """A model whose files changed since the run began (here its card: more training tokens) is refused
    before any work, on the finished-run path that loads no model too; the same files resume as before."""
    model = tmp_path / "m"
    shutil.copytree(resolve_model("tiny-0.3m"), model)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "strategy=greedy", "verifier=none", "logger=none", "task.per_level=2", "task.levels=[1]",
            f"generator.model={model}"])
    rows = execute(cfg, tmp_path / "run", quiet=True)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert set(record["models"]) == {"generator.model"}
    assert execute(cfg, tmp_path / "run", quiet=True) == rows  # unchanged files: resumes (here: finishes)
    card = json.loads((model / "card.json").read_text())
    card["training_tokens"] += 1
    (model / "card.json").write_text(json.dumps(card))
    with pytest.raises(ConfigError, match=r"generator.model=.*before its files changed.*hydra.run.dir=NEW_DIR"):
        execute(cfg, tmp_path / "run", quiet=True)
