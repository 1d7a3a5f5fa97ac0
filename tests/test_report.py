"""Analysis: compute-optimal choice with cross-validation, the FLOPs exchange, the report, the adaptive policy."""

import base64
import json
import re
import shutil
import subprocess

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.exchange import exchange
from ttc.contracts.rules import bin_of
from ttc.analysis.optimal import compute_optimal, quantile_bins, thresholds
from ttc.analysis import plots
from ttc.analysis.curves import METRICS, series_label
from ttc.analysis.page import main_series, write
from ttc.analysis.report import build, pareto, warnings
from ttc.harness.cli import CONF_DIR
from ttc.contracts.errors import ConfigError
from ttc.harness.run import execute
from ttc.contracts.rundir import read_samples

# arm -> (strategy, budget, flops, accuracy on bin 1, accuracy on bin 2)
ARMS = {"greedy": ("greedy", 1, 10.0, 1.0, 0.0), "maj1": ("majority", 1, 10.0, 0.5, 0.5),
        "maj2": ("majority", 2, 20.0, 0.6, 0.6), "beam": ("beam_search", 4, 20.0, 0.0, 1.0),
        "big": ("best_of_n", 8, 100.0, 1.0, 1.0)}


def _records(model="S", n=20, arms=ARMS, pretrain=None):
    out = []
    for i in range(n):
        pid = f"p{i}"
        for strategy, budget, flops, easy, hard in arms.values():
            out.append({"problem_id": pid, "difficulty": 1, "model": model, "series": strategy, "strategy": strategy,
                        "verifier": "none",
                        "budget": budget, "budget_unit": "samples", "accuracy": easy if i < n // 2 else hard,
                        "mc_se": 0.0, "gen_tokens": 1.0, "flops": flops, "arm": {"_target_": strategy},
                        "pretrain_flops": pretrain})
    return out


def test_compute_optimal_picks_each_bins_winner_within_the_baselines_budget():
    bins = {f"p{i}": 1 if i < 10 else 2 for i in range(20)}
    rows = {(r["baseline"], r["difficulty"]): r for r in compute_optimal(_records(), "S", bins, "majority")}
    cheap, wide = rows[("majority @1", "1")], rows[("majority @1", "2")]
    assert cheap["chosen"] == "greedy @1" and cheap["adaptive_accuracy"] == 1.0 and cheap["gain"] == 0.5
    assert wide["chosen"] == "majority @1" and wide["gain"] == 0.0  # beam (20 FLOPs) is over the 10 budget
    total = rows[("majority @1", "all")]
    assert total["adaptive_accuracy"] == 0.75 and total["baseline_accuracy"] == 0.5 and total["fixed_accuracy"] == 0.5
    assert total["gain_ci_low"] > 0
    assert rows[("majority @2", "2")]["chosen"] == "beam_search @4"  # affordable at 20 FLOPs
    assert rows[("majority @2", "1")]["chosen"] == "greedy @1"  # as accurate as anything, and cheapest
    assert rows[("majority @2", "all")]["adaptive_accuracy"] == 1.0 and rows[("majority @2", "all")]["fixed_accuracy"] == 0.6
    assert not any(r["chosen"] == "best_of_n @8" for r in rows.values())  # never within budget
    probe = {f"p{i}": 5.0 for i in range(20)}  # a probe costing 5 FLOPs a problem prices beam out
    paid = {(r["baseline"], r["difficulty"]): r for r in compute_optimal(_records(), "S", bins, "majority", probe)}
    assert paid[("majority @2", "2")]["chosen"] == "majority @1"


def test_exchange_gives_the_small_model_the_large_models_total_flops():
    records = _records("S", pretrain=1e6, arms={"greedy": ("greedy", 1, 10.0, 0.2, 0.2),
                                               "maj": ("majority", 16, 1000.0, 0.9, 0.9)})
    records += _records("L", pretrain=3e6, arms={"greedy": ("greedy", 1, 100.0, 0.5, 0.5)})
    bins = {"S": {f"p{i}": 1 + i % 2 for i in range(20)}}
    rows = {(r["R"], r["difficulty"]): r for r in exchange(records, bins, ratios=(0.16, 22.0))}
    low, high = rows[(0.16, "all")], rows[(22.0, "all")]
    assert low["small_budget_per_query"] == pytest.approx((3e6 * (1 + 0.16 / 3) - 1e6) / 1600, rel=1e-3)
    assert low["small_arms"] == ["majority @16"] and low["small_accuracy"] == 0.9 and low["winner"] == "S"
    assert high["small_budget_per_query"] == pytest.approx((3e6 * (1 + 22 / 3) - 1e6) / (3e6 * 22 / 3 / 100), rel=1e-3)
    assert high["small_arms"] == ["greedy @1"] and high["difference"] == pytest.approx(-0.3) and high["winner"] == "L"
    assert {r["difficulty"] for r in rows.values()} == {"all", "1", "2"}


def test_bins_and_pareto():
    values = {f"p{i}": i / 10 for i in range(10)}
    bins = quantile_bins(values, 5)
    assert bins["p9"] == 1 and bins["p0"] == 5 and sorted(bins.values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    cuts = thresholds(values, 5)
    assert cuts == sorted(cuts, reverse=True) and bin_of(1.0, cuts) == 1 and bin_of(-1.0, cuts) == 5
    rows = [{"accuracy": a, "flops_per_problem": f} for a, f in [(0.5, 1), (0.4, 2), (0.7, 3), (0.7, 4), (0.9, 9)]]
    assert [(r["accuracy"], r["flops_per_problem"]) for r in pareto(rows)] == [(0.5, 1), (0.7, 3), (0.9, 9)]


def _execute(run_dir, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.levels=[1,3,5]", "task.per_level=6", *overrides])
    return execute(cfg, run_dir, quiet=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    _execute(root / "bon", ["strategy=best_of_n", "strategy.n=8", "verifier=self_critique"])
    _execute(root / "greedy", ["strategy=greedy", "verifier=none"])
    _execute(root / "greedy1m", ["strategy=greedy", "verifier=none", "generator.model=tiny-1m"])
    return root


def test_report_from_real_runs(runs, tmp_path):
    data = build([str(runs)])
    assert len(data["runs"]) == 3
    front = data["pareto"]["tiny-0.3m"]
    assert [r["accuracy"] for r in front] == sorted(r["accuracy"] for r in front)
    mine = [r for r in data["curves"] if r["model"] == "tiny-0.3m" and r["level"] == "all"
            and r["selection"] not in ("oracle", "g_pass")]
    for r in mine:  # nothing off the frontier beats it at its cost
        assert max(f["accuracy"] for f in front if f["flops_per_problem"] <= r["flops_per_problem"]) >= r["accuracy"]
    oracle = [r for r in data["oracle"] if r["difficulty"] == "all"]
    assert oracle and all(r["n_problems"] == 18 for r in oracle)
    for r in data["oracle"] + data["predicted"]:
        if r["adaptive_accuracy"] is not None:
            assert r["gain"] == pytest.approx(r["adaptive_accuracy"] - r["baseline_accuracy"], abs=1e-5)
    assert data["predicted"] and data["policies"]["tiny-0.3m"]["budgets"]
    pairs = {(r["small"], r["large"]) for r in data["exchange"]}
    assert pairs == {("tiny-0.3m", "tiny-1m")}
    warned = " ".join(data["warnings"])
    assert "fewer than 10 problems behind some rows" in warned and "level 1 (6)" in warned  # 6 problems per level
    for r in data["oracle"] + data["predicted"]:
        if r["difficulty"] == "all" and r["gain"] is not None and r["gain_ci_low"] <= 0:
            assert f"{r['budget_flops']:.3g} FLOPs {r['gain']:+.3f}" in warned and "not presented as compute-optimal" in warned
    assert len(data["warnings"]) == len(set(data["warnings"]))  # one line per cause: a policy's budgets in one
    for kind in ("oracle", "predicted"):
        assert sum(f"the {kind}-difficulty policy of tiny-0.3m" in w for w in data["warnings"]) <= 1
    out = write(data, tmp_path / "report")
    html = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    names = ["curves", "levels", "tokens", "oracle_policy", "oracle", "predicted_policy", "predicted",
             "calibration", "overoptimisation", "exchange", "curves_more"]
    [cal] = data["calibration"]  # the critique judge's P(yes): reliability bins over all 144 candidates
    assert cal["verifier"] == "tiny-0.3m-critique-logprob" and cal["n_candidates"] == 18 * 8
    assert sum(b["count"] for b in cal["bins"]) == 144 and 0.0 <= cal["ece"] <= 1.0
    assert 0.0 <= cal["auroc"] <= 1.0 and set(cal["auroc_by_level"]) == {"1", "3", "5"}
    assert len(images) == len(names) and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    for name in names:  # every figure also as PDF and SVG, for papers
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF") and b"<svg" in (out / f"{name}.svg").read_bytes()
    md = (out / "report.md").read_text()
    assert "Pretraining vs test-time FLOPs" in md and "## Glossary" in md and "**R**:" in md
    table = md.split("## Accuracy vs FLOPs\n")[1].split("\n\n## ")[0]
    accs = [float(line.split("|")[6]) for line in table.splitlines() if line.startswith("| tiny")]
    assert accs == sorted(accs, reverse=True) and len(accs) > 10  # ordered by accuracy
    _answers_first(data, md)
    assert data["comparisons"] and all(c["ci_low"] <= c["difference"] <= c["ci_high"] for c in data["comparisons"])
    assert "<table>" in html and "**" not in html and "`" not in html and "|---" not in html
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium: `make test` installs it (apt); the HTML was checked without a browser")
    dom = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=5000",
                          "--dump-dom", (out / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert f'data-rendered="{len(names)}/{len(names)}"' in body and 'data-errors="0"' in body
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", dom.stdout, flags=re.S)
    assert not re.search(r"\*\*|`|\|\s*---|!\[|^#+ ", text, flags=re.M), "Markdown residue on the rendered page"
    heads = re.findall(r"<h2>(.*?)</h2>", dom.stdout)
    assert heads[:3] == ["Best strategy per budget", "Warnings", "Accuracy vs FLOPs"]
    folded = re.search(r"<details><summary>(\d+) warnings? \(click to show\)</summary>(.*?)</details>", dom.stdout, re.S)
    assert folded and int(folded.group(1)) == len(data["warnings"]) == folded.group(2).count("<li>")


def _answers_first(data: dict, md: str) -> None:
    """The page opens with the best arm per budget (never a measure), warnings after it; the main figure holds
    the Pareto arms and asked-for rules, at most 8 series in distinct colours; pass@n and G-Pass apart."""
    sections = re.findall(r"^## (.+)$", md, flags=re.M)
    assert sections[:3] == ["Best strategy per budget", "Warnings", "Accuracy vs FLOPs"]
    top = md.split("## Best strategy per budget\n")[1].split("\n## ")[0]
    arms = [r for r in data["curves"] if r["level"] == "all" and r["selection"] not in METRICS]
    for model in data["pareto"]:
        rows = [line.split("|") for line in top.splitlines() if line.startswith(f"| {model} |")]
        assert rows and f"**{model}**: " + " → ".join(f"{c[3].strip()} ({c[5].strip()})" for c in rows) in top
        for cells in rows:  # at each budget level: the most accurate arm costing no more (3 significant figures)
            budget, acc = float(cells[2].split()[0]), float(cells[5])
            assert acc == pytest.approx(max(r["accuracy"] for r in arms if r["model"] == model
                                            and r["flops_per_problem"] <= budget * 1.005), abs=6e-4)
    ranked = md.split("## Accuracy vs FLOPs\n")[1].split("\n\n## ")[0]
    assert "oracle_pass_at_n" not in ranked and "g_pass" not in ranked
    refs = md.split("## Reference measures\n")[1].split("\n\n## ")[0]
    assert "| tiny-0.3m | oracle_pass_at_n |" in refs and "| tiny-0.3m | g_pass_1 |" in refs
    assert len({series_label(r) for r in data["curves"] if r["level"] == "all"}) > 8  # the cap has work to do
    groups = plots.panels(data["curves"], main_series(data))
    fig = plots.curves(data["curves"], data["pareto"], labels=groups[0][1])
    handles, labels = fig.axes[0].get_legend_handles_labels()
    shown = [(h, label) for h, label in zip(handles, labels) if "Pareto frontier" not in label]
    assert 0 < len(shown) <= 8 and len(groups[0][1]) == len(shown)
    colours = [h.get_color() for h, label in shown if "(reference)" not in label]
    assert len(set(map(str, colours))) == len(colours), "two arms of the main panel share a colour"
    front = {f"{m} {r['series']}" + (f" [{r['verifier']}]" if r["verifier"] != "none" else "")
             for m, rows in data["pareto"].items() for r in rows}
    assert front <= set(groups[0][1]) and {series_label(r) for r in data["asked"]} <= set(groups[0][1])
    assert {label for _, labels in groups for label in labels} == {series_label(r) for r in data["curves"]
                                                                  if r["level"] == "all"}
    assert all(len(labels) <= 8 for _, labels in groups)
    plots.plt.close(fig)


def test_warnings_fold_a_policys_budgets_into_one_line():
    def row(kind_budget, gain, low, high, diff="all"):
        return {"model": "M", "difficulty": diff, "budget_flops": kind_budget, "baseline": f"majority @{int(kind_budget)}",
                "gain": gain, "gain_ci_low": low, "gain_ci_high": high}
    data = {"curves": [], "predicted": [],
            "oracle": [row(1.0, -0.1, -0.2, 0.0), row(2.0, 0.05, -0.01, 0.1), row(4.0, 0.2, 0.1, 0.3),
                       row(2.0, -0.3, -0.5, -0.1, diff="1")]}
    [line] = warnings(data)
    assert line.startswith("the oracle-difficulty policy of M is not presented as compute-optimal at 2 budgets")
    assert "baseline majority does not exclude 0" in line
    assert line.endswith("1 FLOPs -0.100 [-0.200, +0.000]; 2 FLOPs +0.050 [-0.010, +0.100]")  # not 4: it beats


def test_panels_keep_the_asked_series_first_and_every_series_somewhere():
    def rows(series, selection, model="M", strategy="best_of_n"):
        return [{"model": model, "series": series, "strategy": strategy, "selection": selection, "verifier": "none",
                 "level": "all", "budget": b, "flops_per_problem": 10.0 * b, "accuracy": 0.1 * b, "ci_low": 0.0,
                 "ci_high": 1.0} for b in (1, 2, 4)]
    data = rows("greedy", "own", strategy="greedy") + rows("oracle_pass_at_n", "oracle")
    data += rows("oracle_pass_at_n (min_p=0.1)", "oracle") + rows("g_pass_1", "g_pass")
    for i in range(12):
        data += rows(f"rule{i}", f"rule{i}") + rows(f"rule{i} (min_p=0.1)", f"rule{i}")
    groups = plots.panels(data, ["M rule3 (min_p=0.1)", "M greedy", "M rule1 (min_p=0.1)", "M nothing"])
    assert groups[0] == ("", ["M rule3 (min_p=0.1)", "M greedy", "M rule1 (min_p=0.1)",
                              "M oracle_pass_at_n (min_p=0.1)"])  # the pass@n of the pool they were read off
    assert all(len(labels) <= plots.MOST for _, labels in groups)
    assert {label for _, labels in groups for label in labels} == {series_label(r) for r in data}
    assert groups[-1] == ("reference measures (not arms)", ["M g_pass_1"])
    fig = plots.curves(data, labels=groups[0][1])
    colours = [line.get_color() for line in fig.axes[0].get_lines() if line.get_linestyle() == "-"]
    assert len(colours) == 3 and len(set(colours)) == 3
    plots.plt.close(fig)


def test_runs_of_different_task_settings_are_not_mixed_in_one_report(runs, tmp_path):
    other = tmp_path / "other"
    _execute(other, ["strategy=greedy", "verifier=none", "task.seed=1"])
    with pytest.raises(ConfigError, match=r"runs differ in task settings \(task.seed=.* report them separately"):
        build([str(runs), str(other)])


def test_adaptive_policy_runs_its_arms_per_predicted_bin(runs, tmp_path):
    data = build([str(runs)])
    write(data, tmp_path / "report")
    policy_file = tmp_path / "report" / "policy-tiny-0.3m.json"
    policy = json.loads(policy_file.read_text())
    run_dir = tmp_path / "adaptive"
    rows = _execute(run_dir, ["strategy=adaptive", f"strategy.policy={policy_file}", "verifier=self_critique"])
    assert any(r["strategy"] == "adaptive" and r["level"] == "all" for r in rows)
    lines = read_samples(run_dir)
    largest = policy["budgets"][-1]["bins"]
    cuts, m = policy["probe"]["thresholds"], policy["probe"]["m"]
    for pid in {x["problem_id"] for x in lines}:
        mine = [x for x in lines if x["problem_id"] == pid]
        probe = [x for x in mine if x["info"]["role"] == "probe"]
        level = bin_of(sum(x["verifier_score"] for x in probe) / len(probe), cuts)
        assert len(probe) == m and all(x["info"]["bin"] == level for x in mine)
        nearest = min((int(b) for b in largest), key=lambda b: (abs(b - level), b))
        assert {x["info"]["arm"] for x in mine} == {largest[str(nearest)]["arm"]}
        [chosen] = [x for x in mine if x["selected"]]
        assert chosen["info"]["role"] == "arm"
        assert mine[0]["ledger"]["generator_flops"] == pytest.approx(sum(x["flops"] for x in mine), rel=1e-6)
    _served_policy_equals_the_run(policy_file, lines)
    with pytest.raises(ConfigError, match="predicts difficulty with a verifier"):
        _execute(tmp_path / "nov", ["strategy=adaptive", f"strategy.policy={policy_file}", "verifier=none"])
    with pytest.raises(ConfigError, match="does not exist; write one with `ttc report"):
        _execute(tmp_path / "nofile", ["strategy=adaptive", "strategy.policy=/no/such.json"])


def _served_policy_equals_the_run(policy_file, lines):
    """`ttc serve` with the policy as a preset (the openai SDK over the ASGI app in process): each served answer,
    its difficulty bin and its arm are the batch run's for the same problem and seed."""
    import openai
    from starlette.testclient import TestClient

    from ttc.harness.serve import app, load

    service = load(["serve.presets=[adaptive]", f"strategy.policy={policy_file}", "verifier=self_critique",
                    "logger=none"], CONF_DIR)
    with TestClient(app(service)) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0)
        for chosen in [x for x in lines if x["selected"]][:3]:
            question = chosen["prompt"].removeprefix("Q: ").removesuffix("\nA:\n")
            reply = client.chat.completions.create(model="adaptive", seed=0, messages=[{"role": "user",
                                                   "content": question}], extra_body={"ttc": {"problem_id": chosen["problem_id"]}})
            extra = reply.to_dict()["ttc"]
            assert reply.choices[0].message.content == chosen["text"]
            assert (extra["info"]["bin"], extra["info"]["arm"]) == (chosen["info"]["bin"], chosen["info"]["arm"])
        budgets = [b["budget_flops"] for b in json.loads(policy_file.read_text())["budgets"]]
        question = [x for x in lines if x["selected"]][0]["prompt"].removeprefix("Q: ").removesuffix("\nA:\n")
        for i, flops in enumerate(budgets):  # ttc.budget_flops picks the largest fitted budget within it
            reply = client.chat.completions.create(model="adaptive", seed=0, messages=[
                {"role": "user", "content": question}], extra_body={"ttc": {"budget_flops": flops * 1.0001}})
            arms = json.loads(policy_file.read_text())["budgets"][i]["bins"].values()
            assert reply.to_dict()["ttc"]["info"]["arm"] in {spec["arm"] for spec in arms}
        with pytest.raises(openai.BadRequestError, match=r"ttc.budget_flops=.* is below every budget"):
            client.chat.completions.create(model="adaptive", messages=[{"role": "user", "content": question}],
                                           extra_body={"ttc": {"budget_flops": min(budgets) / 2}})


def test_runs_that_share_problems_are_kept_whole_or_once(tmp_path):
    """The README's sweep case: a majority run and a best-of-n run read the same rules off their pools. A series
    equal point for point to an earlier run's is shown once and said; one that differs (another min_p, so other
    pools) stays whole, every problem of it, and is named by what differs. Never a per-problem remainder."""
    from ttc.analysis.collect import load

    small = ["strategy.n=4", "verifier=none", "task.per_level=2", "batch_size=6"]
    _execute(tmp_path / "a", ["strategy=majority", *small])
    _execute(tmp_path / "b", ["strategy=majority", "strategy.selection=logprob_sum", *small])  # the same pool
    _execute(tmp_path / "c", ["strategy=best_of_n", "strategy.selection=majority", *small])  # min_p 0.1 -> 0.0
    notes: list[str] = []
    records = load([tmp_path / "a", tmp_path / "b", tmp_path / "c"], notes)
    problems: dict[tuple, set] = {}
    for r in records:
        problems.setdefault((r["run"], r["series"], r["budget"]), set()).add(r["problem_id"])
    assert {len(v) for v in problems.values()} == {6}, "a series lost problems at some budget"
    assert {r["run"] for r in records if r["series"] == "majority"} == {str(tmp_path / "a")}
    assert not any(r["run"] == str(tmp_path / "b") for r in records)
    assert len(notes) == 1 and notes[0].startswith(str(tmp_path / "b")) and "shown once" in notes[0]
    tagged = {r["series"] for r in records if r["run"] == str(tmp_path / "c") and r["series"].startswith("majority")}
    assert tagged == {"majority (strategy.min_p=0.0)"}
    assert len({(r["budget"], r["problem_id"]) for r in records if r["series"] in tagged}) == 3 * 6  # n = 1, 2, 4
