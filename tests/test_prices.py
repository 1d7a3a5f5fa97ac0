"""Dollars (ttc.contracts.prices): generator=openai with a price table prices every request from its usage; the
lines, ledgers and curves carry the dollars, `ttc report --cost dollars` draws on them, budget_cap.dollars stops a
run; a local model's dollars stay empty, and asking for them is one line."""

import csv
import json

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.report import main as report
from ttc.contracts.errors import ConfigError
from ttc.contracts.prices import price_of
from ttc.contracts.rundir import read_samples
from ttc.generators.serve import ModelServer
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute

PRICE = "generator.price={input: 0.15, cached_input: 0.075, output: 0.6}"  # dollars per million tokens


def _run(path, *extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=majority", "strategy.n=2", "verifier=none",
                                                       "task.per_level=1", "task.levels=[1,2,3]", "batch_size=1",
                                                       "logger=none", *extra])
    return execute(cfg, path, quiet=True)


@pytest.fixture(scope="module")
def upstream():
    server = ModelServer("tiny-0.3m").start()
    yield [f"generator=openai", f"generator.base_url={server.url}", "generator.card=tiny-0.3m"]
    server.stop()


def test_a_priced_api_run_carries_dollars_into_lines_curves_and_the_report(tmp_path, upstream):
    _run(tmp_path / "api", *upstream, PRICE)
    lines = read_samples(tmp_path / "api")
    for x in lines:  # by hand: uncached prompt, cached prompt and output tokens at their prices
        by_hand = ((x["prompt_tokens"] - x["cached_tokens"]) * 0.15 + x["cached_tokens"] * 0.075
                   + x["generated_tokens"] * 0.6) / 1e6
        assert x["dollars"] == pytest.approx(by_hand) and x["dollars"] > 0
    for pid in {x["problem_id"] for x in lines}:
        mine = [x for x in lines if x["problem_id"] == pid]
        assert mine[0]["ledger"]["dollars"] == pytest.approx(sum(x["dollars"] for x in mine))
    rows = {int(r["budget"]): float(r["dollars_per_problem"]) for r in csv.DictReader(open(tmp_path / "api" / "curves.csv"))
            if r["series"] == "majority" and r["level"] == "all"}
    mean = sum(x["dollars"] for x in lines) / len(lines)
    assert rows[1] == pytest.approx(mean, rel=1e-6) and rows[2] == pytest.approx(2 * mean, rel=1e-6)
    report([str(tmp_path / "api"), "--out", str(tmp_path / "rep"), "--cost", "dollars"])
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["cost"] == "dollars"
    at = {r["budget"]: r["flops_per_problem"] for r in data["curves"] if r["series"] == "majority" and r["level"] == "all"}
    assert at[2] == pytest.approx(rows[2], rel=1e-4)  # the axis is dollars


def test_a_dollar_cap_stops_an_api_run_and_local_dollars_stay_empty(tmp_path, upstream):
    _run(tmp_path / "one", *upstream, PRICE)
    first = [x for x in read_samples(tmp_path / "one") if x["problem_index"] == 0]
    spent = first[0]["ledger"]["dollars"]
    with pytest.raises(ConfigError, match=r"^budget_cap.dollars=.* reached: .* dollars spent on 1 of 3 problems"):
        _run(tmp_path / "capped", *upstream, PRICE, f"budget_cap.dollars={1.5 * spent}")
    assert {x["problem_index"] for x in read_samples(tmp_path / "capped")} == {0}
    _run(tmp_path / "local")
    assert all(x["dollars"] is None for x in read_samples(tmp_path / "local"))
    assert all(r["dollars_per_problem"] == "" for r in csv.DictReader(open(tmp_path / "local" / "curves.csv")))
    with pytest.raises(ConfigError, match=r"--cost dollars: the runs of tiny-0.3m have no prices"):
        report([str(tmp_path / "local"), "--out", str(tmp_path / "rep"), "--cost", "dollars"])
    with pytest.raises(ConfigError, match=r"budget_cap.dollars needs a priced generator"):
        _run(tmp_path / "local2", "budget_cap.dollars=1")


def test_price_tables():
    price = price_of({"input": 2.5, "output": 10})
    assert price.cached_input == 2.5 and price.dollars(1000, 200, 500) == pytest.approx((800 * 2.5 + 200 * 2.5 + 500 * 10) / 1e6)
    assert price_of(None) is None
    with pytest.raises(ConfigError, match=r"generator.price.outptu is not a price field"):
        price_of({"input": 1, "outptu": 2})
    with pytest.raises(ConfigError, match=r"generator.price.output=None must be dollars per million tokens"):
        price_of({"input": 1})
