"""Weight reads (ttc.contracts.cards.forward_weight_bytes): what one forward reads equals a count of the real
model's parameters; the HF engine books each candidate 1/rows of every forward it is part of, so a call's
candidates together carry exactly its forwards' reads, and wide sampling amortises them (n rows decoded together
read the weights n times less per candidate); the lines, ledgers, curves.csv and `ttc report --cost` carry them."""

import csv
import json

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.report import main as report
from ttc.contracts.records import SamplingParams
from ttc.contracts.rundir import read_samples
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def test_one_forward_reads_every_parameter_once(small):
    params = sum(p.numel() * p.element_size() for p in small.model.parameters())  # tied head counted once
    assert small.card.forward_weight_bytes(4) == params == small.lm.weight_bytes


def test_a_calls_candidates_carry_its_forwards_reads_split_by_rows(small, arith_prompts):
    w = small.lm.weight_bytes
    # every row runs to the limit: a prefill and 4 decode forwards, each over all 8 rows
    long = small.generate(arith_prompts[:2], SamplingParams(temperature=1.0, max_tokens=5), [[1, 2, 3, 4]] * 2)
    assert all(c.generated_tokens == 5 for row in long for c in row)
    assert all(c.weight_bytes == pytest.approx(5 * w / 8) for row in long for c in row)
    [[alone]] = small.generate(arith_prompts[:1], SamplingParams(temperature=1.0, max_tokens=5), [[1]])
    assert alone.weight_bytes == pytest.approx(5 * w)  # one row pays each forward whole: 8x the share above
    # rows that stop early (and are pruned) pay fewer forwards; together the call's rows still pay every forward
    mixed = small.generate(arith_prompts, SamplingParams(temperature=1.0, max_tokens=40, stop=("Answer",)),
                           [[5, 6, 7]] * len(arith_prompts))
    flat = [c for row in mixed for c in row]
    assert len({c.generated_tokens for c in flat}) > 1
    assert sum(c.weight_bytes for c in flat) == pytest.approx(max(c.generated_tokens for c in flat) * w)
    shortest, longest = min(flat, key=lambda c: c.generated_tokens), max(flat, key=lambda c: c.generated_tokens)
    assert shortest.weight_bytes < longest.weight_bytes


def test_beam_search_books_each_beam_its_share(small, arith_prompts):
    [beams] = small.beam_search(arith_prompts[:1], 3, 6)
    assert sum(b.weight_bytes for b in beams) == pytest.approx(beams[0].generated_tokens * small.lm.weight_bytes)


def test_lines_ledgers_curves_and_the_report_carry_weight_bytes(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=majority", "strategy.n=4", "verifier=none",
                                                       "task.per_level=1", "task.levels=[1,3]", "logger=none"])
    execute(cfg, tmp_path / "run", quiet=True)
    lines = read_samples(tmp_path / "run")
    assert all(x["weight_bytes"] > 0 for x in lines)
    for pid in {x["problem_id"] for x in lines}:
        mine = [x for x in lines if x["problem_id"] == pid]
        assert mine[0]["ledger"]["weight_bytes"] == pytest.approx(sum(x["weight_bytes"] for x in mine))
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "curves.csv"))
            if r["series"] == "majority" and r["level"] == "all"]
    mean = sum(x["weight_bytes"] for x in lines) / len(lines)
    for r in rows:  # at the run's batch width: k times the mean share
        assert float(r["weight_bytes_per_problem"]) == pytest.approx(int(r["budget"]) * mean, rel=1e-5)
    report([str(tmp_path / "run"), "--out", str(tmp_path / "rep"), "--cost", "memory_bytes"])
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    at = {r["budget"]: r for r in data["curves"] if r["series"] == "majority" and r["level"] == "all"}
    want = {int(r["budget"]): float(r["kv_bytes_per_problem"]) + float(r["weight_bytes_per_problem"]) for r in rows}
    assert data["cost"] == "memory bytes (KV + weights)"
    assert at[4]["flops_per_problem"] == pytest.approx(want[4], rel=1e-4)
    # a run that booked none (vLLM, an API, an older record) is named when the axis reads weights
    import shutil

    shutil.copytree(tmp_path / "run", tmp_path / "older")
    raw = [json.loads(x) for x in (tmp_path / "older" / "samples.jsonl").read_text().splitlines()]
    for x in raw:
        x.pop("weight_bytes", None)
        if "ledger" in x:
            x["ledger"].pop("weight_bytes", None)
    (tmp_path / "older" / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in raw))
    report([str(tmp_path / "run"), str(tmp_path / "older"), "--out", str(tmp_path / "rep2"), "--cost", "memory_bytes"])
    warnings = json.loads((tmp_path / "rep2" / "report.json").read_text())["warnings"]
    assert any("1 of 2 runs book no weight reads" in w and str(tmp_path / "older") in w for w in warnings)
