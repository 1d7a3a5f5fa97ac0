"""budget_cap: a run stops before the batch that would cross its cap, keeps what it finished (curves written for
those problems), and resumes with a higher cap to the uncapped run's files; bad caps are one line."""

import re

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import read_record, read_samples
from ttc.harness.cap import cost, spending
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

RUN = ["strategy=majority", "strategy.n=4", "verifier=none", "task.per_level=2", "batch_size=4", "logger=none"]


def _run(path, *extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*RUN, *extra])
    return execute(cfg, path, quiet=True)


def _texts(path):
    return sorted((x["problem_id"], x["candidate"], x["text"]) for x in read_samples(path))


def test_a_cap_stops_between_batches_keeps_the_finished_and_resumes_to_the_uncapped_run(tmp_path):
    _run(tmp_path / "whole")
    lines = read_samples(tmp_path / "whole")
    first = [x for x in lines if x["problem_index"] < 4 and x["candidate"] == 0]  # the first batch's problems
    spent = sum(cost(x["ledger"])["flops"] for x in first)
    cap = 1.5 * spent  # the second batch, at the first's mean, would cross it
    head = re.escape(f"budget_cap.flops={cap:.4g} reached: {spent:.4g} FLOPs spent on 4 of 10 problems, and the "
                     f"next batch of 4 would spend ~")
    with pytest.raises(ConfigError, match=rf"^{head}.* more; .* rerun the same command to resume$"):
        _run(tmp_path / "capped", f"budget_cap.flops={cap}")
    kept = read_samples(tmp_path / "capped")
    assert {x["problem_id"] for x in kept} == {x["problem_id"] for x in first}
    assert (tmp_path / "capped" / "curves.csv").exists()  # the finished problems' curves
    assert "ended" not in read_record(tmp_path / "capped")["provenance"]
    _run(tmp_path / "capped", f"budget_cap.flops={cap * 10}")  # raised: resumes, nothing redone
    assert _texts(tmp_path / "capped") == _texts(tmp_path / "whole")
    assert (tmp_path / "capped" / "curves.csv").read_text() == (tmp_path / "whole" / "curves.csv").read_text()
    assert "ended" in read_record(tmp_path / "capped")["provenance"]


def test_token_and_second_caps_and_bad_caps():
    spend = spending({"tokens": 100, "flops": None})
    assert spend is not None and spend.caps == {"tokens": 100.0}
    spend.add([{"prompt_tokens": 30, "generated_tokens": 10, "verifier_tokens": 5, "wall_s": 1.0}])
    assert spend.stop(1, 3) is None  # 45 + 45 <= 100
    spend.add([{"prompt_tokens": 30, "generated_tokens": 10, "verifier_tokens": 5}])
    assert spend.stop(1, 3).startswith("budget_cap.tokens=100 reached: 90 tokens spent on 2 of 3 problems")
    assert spending({"seconds": 2.0}).stop(5, 5) is None  # nothing spent yet: the first batch runs
    assert spending(None) is None and spending({"flops": None}) is None
    with pytest.raises(ConfigError, match=r"budget_cap.seconds=-1 must be a positive number"):
        spending({"seconds": -1})
    with pytest.raises(ConfigError, match=r"budget_cap key=euros is not valid; choose one of: dollars, flops, seconds"):
        spending({"euros": 3})


def test_a_sweeps_other_jobs_are_read_incrementally_whole_lines_only(tmp_path):
    """SweepSpent: the other jobs' ledgers, once per problem (the last), a torn end left for the next look, the
    job's own directory left out."""
    import json

    from ttc.harness.cap import SweepSpent

    def line(pid, flops, ledger=True):
        return json.dumps({"problem_id": pid, **({"ledger": {"generator_flops": flops}} if ledger else {})}) + "\n"

    (tmp_path / "a").mkdir()
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "samples.jsonl").write_text(line("x", 1e9))
    head = line("p1", 10.0) + line("p1", 10.0, ledger=False) + line("p2", 5.0)
    torn = line("p3", 7.0)
    (tmp_path / "a" / "samples.jsonl").write_text(head + torn[:9])
    others = SweepSpent(tmp_path, tmp_path / "own")
    assert others.total()["flops"] == 15.0  # p3's line is still being written
    with open(tmp_path / "a" / "samples.jsonl", "a") as fh:
        fh.write(torn[9:] + line("p2", 6.0))  # p3 finished; p2 redone after a kill: its last ledger counts
    assert others.total()["flops"] == 10.0 + 6.0 + 7.0
    assert others.read[tmp_path / "a" / "samples.jsonl"] == len(head + torn + line("p2", 6.0))
