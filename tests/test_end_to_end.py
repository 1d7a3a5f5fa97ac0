"""A best-of-N run on the tiny world, composed with Hydra as the CLI does, checked against its own samples."""

import csv
from collections import defaultdict

import pytest
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.contracts.rules import candidate_key, vote
from ttc.tasks import arith
from ttc.tasks.arith import make_problem
from ttc.contracts.rundir import read_samples

N = 4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"strategy.n={N}", "task.per_level=3", "verifier.scorer.model=tiny-1m", "strategy.temperature=1.0"])
    execute(cfg, run_dir, quiet=True)
    samples = read_samples(run_dir)
    with open(run_dir / "curves.csv") as fh:
        rows = list(csv.DictReader(fh))
    return samples, rows


def _row(rows, strategy, budget, difficulty="all"):
    [r] = [r for r in rows if r["series"] == strategy and int(r["budget"]) == budget and r["level"] == difficulty]
    return r


def test_every_candidate_is_recorded_with_grade_and_versions(run):
    samples, _ = run
    assert len(samples) == 15 * N
    assert {s["task_version"] for s in samples} == {arith.VERSION}
    assert {s["grader_version"] for s in samples} == {arith.GRADER_VERSION}
    for s in samples:
        _, level, index = s["problem_id"].split("-")
        gold = str(make_problem("test", int(level[1:]), int(index)).answer)
        assert s["correct"] == (s["answer"] == gold)
        assert s["difficulty"] == int(level[1:])
    assert all(s["verifier_score"] is not None and s["verifier_tokens"] > s["generated_tokens"] for s in samples)


def test_curves_at_full_budget_equal_rules_applied_to_the_samples(run):
    samples, rows = run
    pools = defaultdict(list)
    for s in samples:
        pools[s["problem_id"]].append(s)
    maj, bon, anyok, mean = [], [], [], []
    for pid, pool in pools.items():
        right = {c["answer"] for c in pool if c["correct"]}
        won = vote([c["answer"] for c in pool], [1.0] * N, 0, pid)
        maj.append(won in right)
        best = max(range(N), key=lambda i: (pool[i]["verifier_score"], candidate_key(0, pid, i)))
        bon.append(pool[best]["correct"])
        anyok.append(any(c["correct"] for c in pool))
        mean.append(sum(c["correct"] for c in pool) / N)
    n = len(pools)
    assert float(_row(rows, "majority", N)["accuracy"]) == pytest.approx(sum(maj) / n, abs=1e-6)
    assert float(_row(rows, "best_of_n", N)["accuracy"]) == pytest.approx(sum(bon) / n, abs=1e-6)
    assert float(_row(rows, "oracle_pass_at_n", N)["accuracy"]) == pytest.approx(sum(anyok) / n, abs=1e-6)
    assert float(_row(rows, "sample", 1)["accuracy"]) == pytest.approx(sum(mean) / n, abs=1e-6)
    for strategy in ("majority", "best_of_n", "oracle_pass_at_n"):
        assert float(_row(rows, strategy, 1)["accuracy"]) == pytest.approx(sum(mean) / n, abs=1e-6)


def test_compute_grows_with_budget_and_matches_the_ledger_at_full_budget(run):
    samples, rows = run
    ledgers = {s["problem_id"]: s["ledger"] for s in samples}
    full_flops = sum(l["generator_flops"] + l["verifier_flops"] for l in ledgers.values()) / len(ledgers)
    full_tokens = sum(l["generated_tokens"] for l in ledgers.values()) / len(ledgers)
    bon = [_row(rows, "best_of_n", k) for k in (1, 2, 4)]
    assert [float(r["flops_per_problem"]) for r in bon] == sorted(float(r["flops_per_problem"]) for r in bon)
    assert float(bon[-1]["flops_per_problem"]) == pytest.approx(full_flops, rel=1e-5)
    assert float(bon[-1]["gen_tokens_per_problem"]) == pytest.approx(full_tokens, rel=1e-5)
    maj = _row(rows, "majority", N)  # majority needs no verifier: its compute excludes the verifier's
    assert float(maj["flops_per_problem"]) < float(bon[-1]["flops_per_problem"])
    for r in rows:
        assert float(r["ci_low"]) <= float(r["accuracy"]) <= float(r["ci_high"])
    assert {r["level"] for r in rows} == {"all", "1", "2", "3", "4", "5"}
    assert float(rows[0]["pretrain_flops"]) > 0


@pytest.fixture(scope="module")
def unverified(tmp_path_factory):
    """`ttc strategy=best_of_n verifier=none` on a slice: best-of-N's default rule with no verifier to read."""

    run_dir = tmp_path_factory.mktemp("unverified")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "strategy=best_of_n", "verifier=none", f"strategy.n={N}", "strategy.temperature=1.0", "task.levels=[3,4]",
            "task.per_level=3", "logger=none"])
    assert cfg.strategy.selection == "verifier"
    execute(cfg, run_dir, quiet=True)
    return read_samples(run_dir)


def test_best_of_n_without_a_verifier_selects_by_majority_vote(unverified):
    pools = defaultdict(list)
    for s in unverified:
        pools[s["problem_id"]].append(s)
    assert len(pools) == 6 and all(s["verifier_score"] is None for s in unverified)
    for pid, pool in pools.items():
        pool.sort(key=lambda c: c["candidate"])
        answers = [c["answer"] for c in pool]
        won = vote(answers, [1.0] * N, 0, pid)
        [chosen] = [c["candidate"] for c in pool if c["selected"]]
        assert chosen == max((i for i, a in enumerate(answers) if a == won), key=lambda i: candidate_key(0, pid, i))


def test_best_of_n_without_a_verifier_records_the_rule_it_applied(unverified):
    assert {s["selection"] for s in unverified} == {"majority"}


@pytest.mark.parametrize("strategy", ["majority", "sample", "greedy"])
def test_no_verifier_is_built_for_a_strategy_that_never_reads_one(tmp_path, monkeypatch, strategy):
    """The default config names the tiny-4m verifier; majority, sample and greedy never read it, so it is neither
    built nor charged, and the records say `none` (before: loaded, and scoring every sample of the pool)."""
    import json

    from ttc.harness import components
    from ttc.harness import run as run_loop

    built = []
    real = components.build
    spy = lambda node, group, **given: built.append(group) or real(node, group, **given)  # noqa: E731
    for module in (run_loop, components):  # the run loop's own builds, and build_verifier's
        monkeypatch.setattr(module, "build", spy)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"strategy={strategy}", "task.per_level=1", "logger=none"])
    assert cfg.verifier._target_  # the default verifier (model_prob on tiny-4m) is configured
    execute(cfg, tmp_path, quiet=True)
    assert "verifier" not in built and "generator" in built
    lines = read_samples(tmp_path)
    assert {x["verifier"] for x in lines} == {"none"} and all(x["ledger"]["verifier_flops"] == 0 for x in lines)
    assert json.loads((tmp_path / "run.json").read_text())["meta"]["verifier"] == "none"
    assert len(lines) == 5 * (1 if strategy != "majority" else 16)  # sample draws the one sample it reports
