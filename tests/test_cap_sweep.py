"""A sweep shares one budget_cap across its jobs, in launch order: the grid `strategy.n=2,4,8` spends the first
job whole, stops the second between batches, never starts the third, ends with one line naming both and exit
status 2, and resumes with a higher cap to the uncapped sweep's files."""

import json
import subprocess
import sys

from ttc.contracts.rundir import read_record, read_samples
from ttc.harness.cap import MARK, cost

GRID = ["-m", "strategy=majority", "strategy.n=2,4,8", "verifier=none", "task.per_level=1", "batch_size=2",
        "logger=none"]
JOBS = ["strategy.n=2", "strategy.n=4", "strategy.n=8"]


def _sweep(where, *extra):
    return subprocess.run([sys.executable, "-m", "ttc.harness.cli", *GRID, *extra, f"hydra.sweep.dir={where}"],
                          cwd=where.parent, capture_output=True, text=True, timeout=600)


def _spent(job) -> list[float]:
    """Each problem's FLOPs, in the order the job wrote them."""
    return [cost(x["ledger"])["flops"] for x in read_samples(job) if x["candidate"] == 0]


def _texts(job):
    return sorted((x["problem_id"], x["candidate"], x["text"]) for x in read_samples(job))


def test_a_sweep_shares_its_cap_in_launch_order_and_resumes(tmp_path):
    whole = tmp_path / "whole"
    assert _sweep(whole).returncode == 0
    first, second = _spent(whole / JOBS[0]), _spent(whole / JOBS[1])
    assert len(first) == len(second) == 5
    cap = sum(first) + 1.5 * sum(second[:2])  # the second job's first batch fits; its next would cross

    capped = tmp_path / "capped"
    res = _sweep(capped, f"budget_cap.flops={cap}")
    assert res.returncode == 2, res.stderr[-2000:]
    assert "budget_cap.flops" in res.stderr and "reached by the sweep" in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "ttc: error: budget_cap stopped the sweep: 2 of its jobs did not finish (strategy.n=4, strategy.n=8); the "
        f"finished problems are kept. Raise budget_cap or set it to null and rerun the same command with "
        f"hydra.sweep.dir={capped} to resume")
    assert _texts(capped / JOBS[0]) == _texts(whole / JOBS[0])  # the first job spent whole
    assert _spent(capped / JOBS[1]) == second[:2]  # the second stopped after one batch
    assert not (capped / JOBS[2] / "samples.jsonl").exists()  # the third never started
    assert sum(_spent(capped / JOBS[0])) + sum(_spent(capped / JOBS[1])) <= cap
    assert json.loads((capped / MARK).read_text())["job"] == JOBS[1]
    assert "ended" not in read_record(capped / JOBS[1])["provenance"]

    res = _sweep(capped, f"budget_cap.flops={cap * 100}")  # raised: resumes, nothing redone
    assert res.returncode == 0, res.stderr[-2000:]
    for job in JOBS:
        assert _texts(capped / job) == _texts(whole / job)
        assert (capped / job / "curves.csv").read_text() == (whole / job / "curves.csv").read_text()


def test_a_capped_sweep_whose_shards_cannot_merge_still_ends_with_its_line(tmp_path, monkeypatch, capsys):
    """A shard the cap stopped leaves its run unmergeable; the sweep still names its unfinished jobs (exit 2)."""
    import pytest
    from omegaconf import OmegaConf

    from ttc.contracts.errors import ConfigError
    from ttc.harness import sweep

    for job in ("shard=0", "shard=1"):
        (tmp_path / job / ".hydra").mkdir(parents=True)

    def unmergeable(sweep):
        raise ConfigError("merge: shards [1] of 2 are missing; have [0]")

    monkeypatch.setattr(sweep, "merge_sweep_shards", unmergeable)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}, "budget_cap": {"flops": 1e9}})
    with pytest.raises(SystemExit) as stopped:
        sweep.SweepSummary().on_multirun_end(config)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"(in this sweep: rerun the same command with hydra.sweep.dir={tmp_path})" in err
    assert "2 of its jobs did not finish (shard=0, shard=1)" in err
