"""Faults injected into runs: two writers, duplicated blocks, corrupt and half-finished run directories,
absurd budgets and an unreachable W&B server. Each ends in one clear line or an unchanged result."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.curves import per_problem, summarize
from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

SMALL = ["strategy=majority", "strategy.n=2", "verifier=none", "logger=none", "task.per_level=2", "task.levels=[1,2]",
         "batch_size=2"]


def _cfg(*extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[*SMALL, *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("faults") / "run"
    return run, execute(_cfg(), run, quiet=True)


def _ttc(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ttc.harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_a_second_writer_is_refused_naming_the_first_and_a_killed_holder_leaves_no_lock(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished[0], run)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom ttc.harness.lock import RunLock\n"
                               "RunLock(sys.argv[1]).__enter__(); print('held', flush=True); time.sleep(120)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"{run} is being written by pid {holder.pid} on \S+ .*hydra.run.dir="):
            execute(_cfg(), run, quiet=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert execute(_cfg(), run, quiet=True) == finished[1]  # the kernel dropped the dead holder's lock


def test_a_duplicated_block_is_counted_once(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished[0], run)
    path = run / "samples.jsonl"
    blob = path.read_bytes()
    want = summarize(per_problem(read_samples(run)))
    path.write_bytes(blob + blob.splitlines(keepends=True)[0] + blob)  # a stray line and a whole second copy
    lines = read_samples(run)
    assert len(lines) == len(blob.splitlines())
    assert summarize(per_problem(lines)) == want and len(want) > 10


def test_corrupt_run_files_are_one_line_naming_file_and_line(finished, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(finished[0], bad)
    (bad / "run.json").write_text("{")
    out = _ttc("report", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"{bad / 'run.json'} is not valid JSON" in out.stderr
    shutil.copy(finished[0] / "run.json", bad / "run.json")
    rows = (bad / "samples.jsonl").read_text().splitlines()
    second = json.loads(rows[1])
    del second["correct"]
    rows[1] = json.dumps(second)
    (bad / "samples.jsonl").write_text("\n".join(rows) + "\n")
    out = _ttc("report", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "samples.jsonl line 2 has no field 'correct'" in out.stderr


def test_report_refuses_a_half_finished_run_or_marks_it(finished, tmp_path):
    from ttc.analysis.page import sections
    from ttc.analysis.report import build

    half = tmp_path / "half"
    shutil.copytree(finished[0], half)
    rows = (half / "samples.jsonl").read_text().splitlines(keepends=True)
    (half / "samples.jsonl").write_text("".join(rows[:5]))  # problems 1-2 whole, problem 3 with 1 of 2 lines
    with pytest.raises(ConfigError, match=r"is not finished: 2/4 problems finished \(1 partial\).*--incomplete"):
        build([str(half)])
    data = build([str(half)], allow_incomplete=True)
    assert {r["n_problems"] for r in data["curves"] if r["level"] == "all"} == {2}  # finished problems only
    text = dict((title, body) for title, body, _ in sections(data))
    assert "**incomplete**: 2/4 problems finished (1 partial)" in text["Runs"]
    assert "incomplete (2/4 problems finished (1 partial))" in text["Warnings"]


def test_an_absurd_budget_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"strategy.n=1000000000(\.0)?: budget 1000000000 samples per problem is above"):
        execute(_cfg("strategy.n=1e9"), tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


def test_an_unreachable_wandb_server_falls_back_offline_and_a_failing_mirror_costs_nothing(finished, tmp_path,
                                                                                          monkeypatch, capfd):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("WANDB_MODE", raising=False)
    rows = execute(_cfg("logger=wandb", "logger.init_timeout=3"), tmp_path / "w", quiet=True)
    assert rows == finished[1]
    err = [x for x in capfd.readouterr().err.splitlines() if x.startswith("ttc:")]
    assert len(err) == 1 and "W&B online init failed" in err[0] and "wandb sync" in err[0]
    marker = json.loads((tmp_path / "w" / "logged.json").read_text())
    assert "offline-run-" in marker["wandb"]

    from ttc.harness.wandb_log import WandbLogger

    def broken(*args, **kwargs):
        raise OSError("disk quota exceeded")

    monkeypatch.setattr(WandbLogger, "start", broken)
    assert execute(_cfg("logger=wandb"), tmp_path / "b", quiet=True) == finished[1]
    err = [x for x in capfd.readouterr().err.splitlines() if x.startswith("ttc:")]
    assert len(err) == 1 and "the W&B mirror failed (OSError: disk quota exceeded)" in err[0]
    assert not (tmp_path / "b" / "logged.json").exists()


def _can_mount() -> bool:
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs unshare -m and mount (root) for a small tmpfs")
def test_a_full_disk_and_a_read_only_directory_give_one_line_and_resume_elsewhere(tmp_path):
    """A 96 KiB tmpfs fills mid-run: one line, the lines written are kept, and a copy resumed elsewhere ends
    exactly like an uninterrupted run; the same directory remounted read-only is one line too."""
    args = " ".join(["strategy=majority", "strategy.n=4", "verifier=none", "logger=none", "task.per_level=8",
                     "batch_size=2"])
    ttc = f"{sys.executable} -m ttc.harness.cli {args}"
    script = f"""
set -u
mount -t tmpfs -o size=96k tmpfs {tmp_path}/small || exit 9
cd {tmp_path}
{ttc} hydra.run.dir={tmp_path}/small/run 2> {tmp_path}/full.err; echo $? > {tmp_path}/full.rc
cp -a {tmp_path}/small/run {tmp_path}/copy
mount -o remount,ro {tmp_path}/small
{ttc} hydra.run.dir={tmp_path}/small/run 2> {tmp_path}/ro.err; echo $? > {tmp_path}/ro.rc
"""
    (tmp_path / "small").mkdir()
    assert subprocess.run(["unshare", "-m", "sh", "-c", script], timeout=600).returncode == 0
    full = [x for x in (tmp_path / "full.err").read_text().splitlines() if x.startswith("ttc:")]
    assert (tmp_path / "full.rc").read_text().strip() == "2", full
    assert len(full) == 1 and "No space left on device" in full[0] and "rerun the same command" in full[0], full
    kept = read_samples(tmp_path / "copy")
    assert 0 < len(kept) < 40 * 4
    ro = [x for x in (tmp_path / "ro.err").read_text().splitlines() if x.startswith("ttc:")]
    assert (tmp_path / "ro.rc").read_text().strip() == "2" and len(ro) == 1 and "read-only file system" in ro[0].lower(), ro
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for run in ("copy", "fresh"):
        res = subprocess.run([sys.executable, "-m", "ttc.harness.cli", *args.split(), f"hydra.run.dir={tmp_path}/{run}"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "copy" / "curves.csv").read_text() == (tmp_path / "fresh" / "curves.csv").read_text()
    assert len(read_samples(tmp_path / "copy")) == 40 * 4


def test_run_json_records_provenance_and_timing_per_batch(finished):
    import platform

    import torch
    import transformers

    record = json.loads((finished[0] / "run.json").read_text())
    prov = record["provenance"]
    assert prov["libraries"]["torch"] == torch.__version__.split("+")[0] or prov["libraries"]["torch"] == torch.__version__
    assert prov["libraries"]["transformers"] == transformers.__version__ and prov["python"] == platform.python_version()
    assert prov["hardware"]["cores"] == os.cpu_count() and prov["hardware"]["memory_gib"] > 1
    assert len(prov["ttc"]["commit"]) == 40 and isinstance(prov["ttc"]["dirty"], bool)
    assert prov["started"] <= prov["ended"]
    timing = [json.loads(x) for x in (finished[0] / "timing.jsonl").read_text().splitlines()]
    assert len(timing) == 2 and all(t["wall_s"] > 0 for t in timing)  # 4 problems in batches of 2
    assert sorted(p for t in timing for p in t["problems"]) == sorted({s["problem_id"] for s in read_samples(finished[0])})
