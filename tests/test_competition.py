"""AIME 2024/2025 and AMC 2023 from ../shared/data with integer grading, and G-Pass@k beside pass@k."""

import itertools
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.estimators import g_pass_at_k, pass_at_k
from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.tasks.competition import CompetitionTask, as_integer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_answers_are_read_as_whole_numbers():
    assert as_integer("025") == 25 and as_integer(27.0) == 27 and as_integer("$1,024$") == 1024
    assert as_integer("\\text{7}") == 7 and as_integer("-3") == -3
    assert as_integer("2.5") is None and as_integer("x+1") is None and as_integer(None) is None


@pytest.mark.parametrize("name,count", [("aime24", 30), ("aime25", 30), ("amc23", 40)])
def test_the_sets_load_and_grade_their_own_answers(name, count):
    task = CompetitionTask(name, path=str(DATA / name / "test.jsonl"))
    problems = task.problems()
    raw = [json.loads(x) for x in (DATA / name / "test.jsonl").read_text().splitlines()]
    assert len(problems) == count == len({p.id for p in problems})
    for p, r in zip(problems, raw):
        assert task.grade(task.extract(f"so the answer is \\boxed{{{int(float(r['answer']))}}}."), p)
        assert not task.grade(task.extract(f"\\boxed{{{int(float(r['answer'])) + 1}}}"), p)
        assert r["problem"] in p.prompt and p.public().reference == ""
    if name == "aime24":  # the file keeps leading zeros: "025" is answered by \boxed{25}
        padded = next(p for p, r in zip(problems, raw) if str(r["answer"]).startswith("0"))
        assert task.grade("25", padded) == (padded.reference == "25")
    with pytest.raises(ConfigError, match="pass a local file with task.path"):
        CompetitionTask(name)


def test_g_pass_is_the_exact_chance_that_enough_of_k_draws_are_right():
    n = 7
    for c in range(n + 1):
        right = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            for tau in (0.5, 0.75, 1.0):
                need = max(1, int(-(-tau * k // 1)))
                brute = sum(sum(right[i] for i in s) >= need for s in subsets) / len(subsets)
                assert g_pass_at_k(n, c, k, tau) == pytest.approx(brute)
            assert g_pass_at_k(n, c, k, 1e-9) == pytest.approx(pass_at_k(n, c, k))


def test_a_competition_run_has_avg_pass_and_g_pass_in_its_curves(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "task=amc23", f"task.path={DATA}/amc23/test.jsonl", "task.limit=2", "strategy=majority", "strategy.n=4",
            "strategy.max_tokens=16", "verifier=none", "logger=none"])
    rows = execute(cfg, tmp_path / "r", quiet=True)
    series = {(r["series"], r["budget"]) for r in rows if r["level"] == "all"}
    assert {("sample", 1), ("oracle_pass_at_n", 4), ("majority", 4)} <= series
    assert {("g_pass_0.5", 2), ("g_pass_0.75", 4), ("g_pass_1", 4)} <= series
    assert ("g_pass_1", 1) not in series  # G-Pass@1 is pass@1
    assert {r["selection"] for r in rows if r["series"].startswith("g_pass")} == {"g_pass"}
