"""The W&B mirror: offline by default without a key, live progress points, constant keys, the tidy curves
table, the run's own curve against FLOPs, a per-problem table and the run as an artifact."""

import json
import re
import math
import sys

import pytest
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.contracts.errors import ConfigError
from ttc.harness.run import execute
from ttc.harness.wandb_log import named, own_series, resolve_mode, trees_table
from ttc.analysis.curves import COLUMNS, series_label
from ttc.contracts.rundir import read_samples, read_trees


def test_mode_defaults_to_offline_without_a_key(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert resolve_mode(None) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode(None) == "online"
    assert resolve_mode("disabled") == "disabled"
    with pytest.raises(ConfigError, match="logger.mode=cloud is not valid"):
        resolve_mode("cloud")


def test_names_in_the_config_come_from_the_run_else_from_the_config(tmp_path):
    pool = {"_target_": "ttc.strategies.best_of_n.BestOfN", "n": 4, "selection": "verifier"}
    shown = named(tmp_path, {"strategy": pool, "verifier": {}, "seed": 0})  # no run.json: what the config says
    assert shown["strategy"]["name"] == "verifier" and shown["verifier"] == {"name": "none"} and shown["seed"] == 0
    assert named(tmp_path, {"strategy": {**pool, "name": "sample"}, "verifier": None})["strategy"]["name"] == "sample"
    (tmp_path / "run.json").write_text(json.dumps({"config": {}, "meta": {"strategy": "best_of_n",
                                                                          "verifier": "tiny-4m-prob-mean"}}))
    shown = named(tmp_path, {"strategy": pool, "verifier": {"_target_": "ttc.verifiers.model_prob.ModelProbVerifier"}})
    assert (shown["strategy"]["name"], shown["verifier"]["name"]) == ("best_of_n", "tiny-4m-prob-mean")
    assert "name" not in pool  # the run's own config is left as it was


def test_own_series_of_a_pool_without_a_verifier_is_majority():
    rows = [{"strategy": "best_of_n", "selection": s, "level": "all", "series": s} for s in ("majority", "oracle")]
    assert [r["series"] for r in own_series(rows, {"strategy": {"selection": "verifier"}})] == ["majority"]


def _run(run_dir, *extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=majority", "strategy.n=4", "verifier=none",
                                                       "task.per_level=2", "task.levels=[1,2]", *extra])
    return execute(cfg, run_dir, quiet=True, group="sweep-x")


def _records(path):
    """Every protobuf record of an offline .wandb file (a LevelDB-style log: 32 KiB blocks, 7-byte headers)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block, buf, out = path.read_bytes(), 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
    return out


def _items(items):
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def test_offline_run_mirrors_curves_table_and_artifact(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    rows = _run(tmp_path / "r", "logger=wandb", "batch_size=2")
    samples = read_samples(tmp_path / "r")
    from wandb.integration.weave.weave import _AVAILABLE_WEAVE_INTEGRATIONS

    ours = {"verifiers", "tasks", "harness", "strategies", "analysis"}
    assert not ours & set(sys.modules), "ttc's code is imported under a top-level name W&B (or others) may claim"
    assert "verifiers" in _AVAILABLE_WEAVE_INTEGRATIONS  # the name W&B's integration detection looks for
    assert "Detected [verifiers" not in capfd.readouterr().err
    marker = json.loads((tmp_path / "r" / "logged.json").read_text())
    [offline] = list((tmp_path / "r" / "wandb").glob("offline-run-*"))  # offline: no key was set
    assert marker["wandb"] == str(offline)
    records = _records(next(offline.glob("run-*.wandb")))
    kinds = [r.WhichOneof("record_type") for r in records]
    [run] = [r.run for r in records if r.HasField("run")]
    assert run.run_group == "sweep-x"
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["strategy"]["name"] == "majority" and config["strategy"]["selection"] == "majority"
    assert config["verifier"] == {"name": "none"}  # verifier=none: a name, not an empty group
    assert run.job_type == "eval" and run.display_name == "r"
    metrics = {(r.metric.glob_name or r.metric.name): r.metric.step_metric for r in records if r.HasField("metric")}
    assert metrics["curve/*"] == "curve/flops_per_problem" and metrics["progress/*"] == "progress/problems"
    history = [_items(r.history.item) for r in records if r.HasField("history")]
    live = [h for h in history if "progress/problems" in h]
    assert [h["progress/problems"] for h in live] == [2, 4]  # batch_size=2: a point after each batch
    first_table = next(i for i, h in enumerate(history) if any(k.startswith("curves") for k in h))
    assert history.index(live[0]) < first_table, "a live point is logged before the run's end"
    selected = [x for x in samples if x["selected"]]
    first_batch = [x for x in selected if x["problem_index"] < 2]
    assert live[0]["progress/accuracy"] == pytest.approx(sum(x["correct"] for x in first_batch) / 2)
    assert live[-1]["progress/accuracy"] == pytest.approx(sum(x["correct"] for x in selected) / 4)
    curve = sorted((r for r in rows if r["level"] == "all" and r["series"] == "majority"),
                   key=lambda r: r["flops_per_problem"])
    points = [h for h in history if "curve/accuracy" in h]
    assert all(h["curve/kv_bytes_per_problem"] > 0 for h in points)
    assert not any("curve/dollars_per_problem" in h for h in points)  # a local model is unpriced
    assert [p["curve/accuracy"] for p in points] == pytest.approx([r["accuracy"] for r in curve])
    assert [p["curve/budget"] for p in points] == [1, 2, 4]  # the run's own series (selection=majority)
    assert not [k for h in history for k in h if "tiny-0.3m" in k or "majority" in k], "identity in a key name"
    summary = {}
    for r in records:
        if r.HasField("summary"):
            summary.update(_items(r.summary.update))
    assert summary["accuracy"] == pytest.approx(curve[-1]["accuracy"]) and summary["n_problems"] == 4
    tables = {}
    for key, value in history[first_table].items():  # a table is logged as nested keys: curves/_type, ...
        name, _, field = key.partition("/")
        tables.setdefault(name, {})[field] = value
    assert tables["curves"]["_type"] == "table-file" and tables["curves"]["nrows"] == len(rows)
    assert tables["problems"]["nrows"] == 4  # one selected answer per problem
    [table_file] = list((offline / "files").rglob("curves_*.table.json"))
    table = json.loads(table_file.read_text())
    assert table["columns"] == list(COLUMNS)
    levels = {row[table["columns"].index("level")] for row in table["data"]}
    assert levels == {"all", "1", "2"}
    chart = next(v for r in records if r.HasField("config") for item in r.config.update
                 if (item.key or "/".join(item.nested_key)) == "_wandb/visualize/accuracy_vs_flops"
                 for v in [json.loads(item.value_json)["panel_config"]])
    assert chart["fieldSettings"] == {"x": "log10_flops_per_problem", "y": "accuracy", "stroke": "series"}
    [chart_file] = list((offline / "files").rglob("accuracy_vs_flops_table_*.table.json"))
    chart_rows = json.loads(chart_file.read_text())
    every = {series_label(r) for r in rows if r["level"] == "all"}
    assert {x[0] for x in chart_rows["data"]} == every and len(every) > 5  # every rule of the pool, not only majority
    point = next(x for x in chart_rows["data"] if x[0] == "tiny-0.3m majority" and x[5] == 4)
    assert point[1] == pytest.approx(math.log10(curve[-1]["flops_per_problem"])) and point[2] == curve[-1]["accuracy"]
    assert {r.artifact.type for r in records if r.HasField("artifact")} >= {"ttc-run"}
    assert kinds.count("exit") == 1
    _run(tmp_path / "r", "logger=wandb", "batch_size=2")  # finished and mirrored: not logged twice
    assert len(list((tmp_path / "r" / "wandb").glob("offline-run-*"))) == 1
    _run(tmp_path / "n", "logger=none")
    assert not (tmp_path / "n" / "wandb").exists() and not (tmp_path / "n" / "logged.json").exists()


def test_a_sweeps_offline_runs_are_collected_for_one_sync_command(tmp_path):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}
    sweep = tmp_path / "sweep"
    res = subprocess.run([sys.executable, "-m", "ttc.harness.cli", "-m", "strategy=sample,majority", "strategy.n=2",
                          "verifier=none", "logger=wandb", "task.per_level=1", "task.levels=[1,2]",
                          f"hydra.sweep.dir={sweep}"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**env, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    runs = sorted((sweep / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and not list(sweep.glob("strategy=*/wandb"))
    assert f"wandb sync {sweep / 'wandb'}/offline-run-*" in res.stdout
    for job in ("strategy=sample", "strategy=majority"):
        marker = json.loads((sweep / job / "logged.json").read_text())
        assert marker["wandb"] in map(str, runs)


def test_a_search_mirrors_its_trees_as_html_media(tmp_path, monkeypatch):
    """prm_beam with logger=wandb (offline): a `trees` table, one row per problem, each tree the SVG `ttc view`
    draws, with as many nodes as trees.jsonl holds."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    _run(tmp_path / "r", "logger=wandb", "strategy=prm_beam", "strategy.n=4", "strategy.width=2",
         "verifier=tiny_prm")
    trees = read_trees(tmp_path / "r")
    [offline] = list((tmp_path / "r" / "wandb").glob("offline-run-*"))
    [table_file] = list((offline / "files").rglob("trees_*.table.json"))  # logged (W&B stores the media in
    assert len(json.loads(table_file.read_text())["data"]) == len(trees) == 4  # the run's table artifact)
    table = trees_table(tmp_path / "r")
    assert table.columns == ["problem_id", "difficulty", "answer", "correct", "nodes", "tree"]
    assert sorted(row[0] for row in table.data) == sorted(trees)
    for row in table.data:
        page = open(row[5]._path).read()
        assert row[4] == len(trees[row[0]]) == len(re.findall(r'class="node[ "]', page)) and page.startswith("<svg")
