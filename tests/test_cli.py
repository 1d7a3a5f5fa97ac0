"""`ttc` driven as users drive it: bad inputs stop before any work with one line; a sweep prints a table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TTC = [sys.executable, "-m", "ttc.harness.cli"]


def ttc(*args, cwd):
    return subprocess.run([*TTC, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args,needle", [
    (["strategy=nope"], "strategy=nope is not valid; choose one of: adaptive, adaptive_sc, beam_search, best_of_n"),
    (["task=gsm9k"], "task=gsm9k is not valid; choose one of: aime24, aime25, amc23, arith"),
    (["generator.model=tiny-9m"], "generator.model=tiny-9m is neither a known model (tiny-0.3m, tiny-1m"),
    (["generator.model=/no/such/dir"], "generator.model=/no/such/dir is neither"),
    (["strategy.n=0"], "budget 0 samples is impossible"),
    (["strategy=beam_search", "strategy.width=-2"], "budget -2 beams is impossible"),
    (["strategy.selection=best"], "strategy.selection=best is not valid; choose one of:"),
    (["task.levels=[1,7]"], "task.levels contains 7; valid levels are [1, 2, 3, 4, 5]"),
    (["strategy.top_p=1.5"], "top_p=1.5 is out of range"),
])
def test_bad_input_stops_before_work_with_one_line(tmp_path, args, needle):
    run_dir = tmp_path / "run"
    res = ttc(*args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not (run_dir / "samples.jsonl").exists()


def test_a_run_dir_holding_another_config_is_refused(tmp_path):
    base = ["verifier=none", "strategy=greedy", "task.per_level=1", "task.levels=[1]", f"hydra.run.dir={tmp_path}/r"]
    assert ttc(*base, cwd=tmp_path).returncode == 0
    res = ttc(*base, "seed=3", cwd=tmp_path)
    assert res.returncode == 2 and "holds a run with a different config" in res.stderr


def test_multirun_prints_one_table_over_the_sweep(tmp_path):
    res = ttc("-m", "strategy=greedy,majority", "verifier=none", "task.per_level=2",
              f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    table = res.stdout.split("tiny-0.3m, difficulty=all: accuracy")[-1].split("sweep directory:")[0]
    names = [x.split(" | ")[0].strip() for x in table.splitlines() if " | " in x]
    # each run's asked-for rule first (greedy; majority vote of the majority run), then the pool's other rules
    assert names[:3] == ["asked for", "greedy", "majority"] and names[3] == "also read off this pool"
    assert {"sample", "best_of_n_logprob [self-prob-sum]", "oracle_pass_at_n"} <= set(names[4:])
    assert "majority" not in names[4:] and "16 samples" in table and "n=" not in table
    merged = (tmp_path / "sweep" / "curves.csv").read_text()
    assert "greedy" in merged and "majority" in merged
    assert (tmp_path / "sweep" / "curves.png").stat().st_size > 1000
    jobs = sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/run.json"))
    assert jobs == ["strategy=greedy", "strategy=majority"]  # named by what the sweep varies
    record = json.loads((tmp_path / "sweep" / "strategy=greedy" / "run.json").read_text())
    assert "task.per_level=2" in record["provenance"]["command"]  # the whole command stays in run.json


def test_sweep_job_names_leave_out_what_every_job_shares():
    from ttc.harness.cli import short_sweep_names

    argv = ["ttc", "-m", "strategy=greedy,majority", "strategy.n=4", "task.levels=[1,2]", "shard=range(2)"]
    extra = short_sweep_names(argv)[len(argv):]
    assert extra == ["hydra.job.config.override_dirname.exclude_keys=[hydra.sweep.dir,hydra.run.dir,strategy.n,"
                     "task.levels]"]
    assert short_sweep_names(["ttc", "strategy=greedy", "strategy.n=4"]) == ["ttc", "strategy=greedy", "strategy.n=4"]
    assert short_sweep_names(["ttc", "-m", "strategy=greedy", "seed=1"]) == ["ttc", "-m", "strategy=greedy", "seed=1"]


def test_malformed_data_file_stops_with_its_line(tmp_path):
    bad = tmp_path / "qa.jsonl"
    bad.write_text('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?", "answer": 4\n')
    res = ttc("task=jsonl", f"task.path={bad}", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and f"task.path={bad} line 2 is not valid JSON" in res.stderr
    res = ttc("task=jsonl", f"task.path={tmp_path}/nope.jsonl", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert res.returncode == 2 and "nope.jsonl: no such file" in res.stderr


@pytest.mark.parametrize("args,needle", [
    (["strategy.nn=4"], "strategy.nn is not a setting of strategy; valid: epsilon, max_tokens, min_p, n, regex, reject, selection"),
    (["strategy.n=[1"], "override syntax: no viable alternative at input '[1'"),
    (["seed=abc"], "seed=abc must be a number (default 0)"),
    (["strategy.temperature=hot"], "strategy.temperature=hot must be a number (default 0.8)"),
    (["task=jsonl"], "task.path is required and has no value; set task.path=..."),
    (["verifier.scorer.model=nope"], "verifier.scorer.model=nope is neither a known model"),
    (["-m", "strategy.n=2,4", "strategy.nx=1"], "strategy.nx is not a setting of strategy"),
])
def test_bad_config_stops_before_hydra_makes_any_directory(tmp_path, args, needle):
    res = ttc(*args, f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr
    assert "HYDRA_FULL_ERROR" not in res.stderr and sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_stops_within_seconds_with_one_line(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([*TTC, "strategy=majority", "strategy.n=16", "verifier=none", "logger=none",
                             "task.per_level=100", "batch_size=5", f"hydra.run.dir={tmp_path}/r"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's `cmd &` starts pytest with SIGINT ignored, which children inherit: undo it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    samples = tmp_path / "r" / "samples.jsonl"
    deadline = time.monotonic() + 120
    while not (samples.exists() and samples.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 30 and proc.returncode == 130  # a decode step, the W&B-less close: seconds
    assert "ttc: interrupted; rerun the same command to resume" in err and "Traceback" not in err


def test_help_lists_the_commands_beside_a_run_and_each_has_its_own(tmp_path):
    res = ttc("--help", cwd=tmp_path)
    assert res.returncode == 0 and "ttc report RUN_DIR" in res.stdout and "ttc merge OUT_DIR" in res.stdout
    assert "ttc grade task=TASK" in res.stdout and "ttc processbench verifier=V" in res.stdout and "strategy: adaptive" in res.stdout
    for command in ("report", "merge", "grade", "processbench"):
        res = ttc(command, "--help", cwd=tmp_path)
        assert res.returncode == 0 and res.stdout.startswith(f"usage: ttc {command}"), (command, res.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
