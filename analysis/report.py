"""`ttc report RUN_DIR... [--out DIR]`: one self-contained report from run directories.

Writes `report.md`, `report.html` (PNG plots embedded, no network), the PNGs, `report.json` (every table)
and `policy.json` (the compute-optimal arm per predicted-difficulty bin and budget, for `strategy=adaptive`).
Sections: accuracy vs FLOPs and vs generated tokens with 95% bootstrap bands and the Pareto frontier;
the compute-optimal strategy per difficulty bin (oracle and predicted) with 2-fold cross-validated gains over
best-of-N at equal compute; Snell's pretraining vs test-time exchange across the model family.
Reads run directories only.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
from pathlib import Path

from ttc.analysis import plots
from ttc.analysis.collect import find_runs, incomplete, load
from ttc.analysis.curves import summarize
from ttc.analysis.exchange import RATIOS, exchange
from ttc.contracts.rules import bin_of
from ttc.analysis.optimal import (arms_table, compute_optimal, oracle_difficulty, probe, quantile_bins,
                              thresholds)
from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import is_run_dir, read_record, read_samples, shard_of, write_atomic


def pareto(rows: list[dict]) -> list[dict]:
    """Rows (one model, difficulty all, no oracle) no cheaper-or-equal row beats: the frontier, cheapest first."""
    out, best = [], -1.0
    for r in sorted(rows, key=lambda r: (r["flops_per_problem"], -r["accuracy"])):
        if r["accuracy"] > best:
            out.append(r)
            best = r["accuracy"]
    return out


def _baseline(records: list[dict], model: str) -> str:
    has_verifier = any(r["model"] == model and r["strategy"] == "best_of_n" for r in records)
    return "best_of_n" if has_verifier else "majority"


def _predicted(runs: list[Path], model: str, n_bins: int, m: int) -> tuple[dict, dict, list[float], dict]:
    """Predicted bins of `model` from the first pooled run with verifier scores: bins, probe cost, cuts, and
    the run's verifier and strategy configs (the probe re-draws the pool's first m samples)."""
    for run in runs:
        record = read_record(run)
        if record.get("meta", {}).get("generator") != model:
            continue
        lines = read_samples(run)
        sampled_only = record["config"].get("strategy", {}).get("selection") == "first"  # plain sampling
        if not lines or lines[0]["curve"] != "pooled" or sampled_only or lines[0]["n_candidates"] < m:
            continue
        scores, cost = probe(lines, m)
        if len(scores) >= n_bins:
            cuts = thresholds(scores, n_bins)
            return {p: bin_of(s, cuts) for p, s in scores.items()}, cost, cuts, record["config"]
    return {}, {}, [], {}


def build(paths: list[str], n_bins: int = 5, probe_m: int = 4, ratios=RATIOS, allow_incomplete: bool = False) -> dict:
    """Everything the report shows, computed from the run directories under `paths`; unfinished runs are
    refused, or with `allow_incomplete` reported from their finished problems and marked with their counts."""
    runs = find_runs(paths)
    shards = [p for p in paths if is_run_dir(Path(p)) and shard_of(read_record(p)["config"])[1] > 1]
    if not runs and shards:
        shard, k = shard_of(read_record(shards[0])["config"])
        raise ConfigError(f"report: {shards[0]} is shard {shard} of {k}; merge the shards first "
                          f"(ttc merge OUT_DIR SHARD_DIR...) and report the merged run")
    if not runs:
        raise ConfigError(f"report: no run directories (with samples.jsonl) under {', '.join(paths)}")
    unfinished = incomplete(runs)
    if unfinished and not allow_incomplete:
        run, counts = next(iter(unfinished.items()))
        more = f" (and {len(unfinished) - 1} more)" if len(unfinished) > 1 else ""
        raise ConfigError(f"report: {run} is not finished: {counts}{more}; rerun its command to finish it, "
                          f"or pass --incomplete to report finished problems only, marked incomplete")
    records = load(runs)
    models = sorted({r["model"] for r in records})
    curves = summarize(records)
    out: dict = {"runs": [str(r) for r in runs], "incomplete": unfinished, "curves": curves, "pareto": {}, "oracle": [], "predicted": [],
                 "exchange": [], "policies": {}}
    oracle_bins = {}
    for model in models:
        mine = [r for r in curves if r["model"] == model and r["difficulty"] == "all" and "oracle" not in r["strategy"]]
        out["pareto"][model] = [{k: r[k] for k in ("strategy", "verifier", "budget", "accuracy", "flops_per_problem")}
                                for r in pareto(mine)]
        pass1 = oracle_difficulty(records, model)
        if len(pass1) < n_bins:
            continue
        oracle_bins[model] = quantile_bins(pass1, n_bins)
        out["oracle"] += compute_optimal(records, model, oracle_bins[model], _baseline(records, model))
        bins, cost, cuts, config = _predicted(runs, model, n_bins, probe_m)
        if bins:
            rows = compute_optimal(records, model, bins, _baseline(records, model), extra=cost)
            out["predicted"] += rows
            out["policies"][model] = _policy(records, model, bins, rows, cuts, config, probe_m)
    out["exchange"] = exchange(records, oracle_bins, ratios)
    return out


def _policy(records, model, bins, rows, cuts, config, m) -> dict:
    """The arm chosen on all problems per bin and budget, as strategy configs `strategy=adaptive` runs."""
    arms = arms_table(records, model, set(bins))
    configs = {label: next(iter(rs.values()))["arm"] for label, rs in arms.items()}
    budgets: dict[float, dict] = {}
    for r in rows:
        if r["difficulty"] != "all" and r["chosen"]:
            entry = budgets.setdefault(r["budget_flops"], {"budget_flops": r["budget_flops"],
                                                           "baseline": r["baseline"], "bins": {}})
            entry["bins"][r["difficulty"]] = {"arm": r["chosen"], "strategy": configs[r["chosen"]]}
    probe_cfg = {**config["strategy"], "n": m, "selection": "first"}
    return {"model": model, "difficulty": "predicted", "probe": {"m": m, "thresholds": cuts, "strategy": probe_cfg},
            "verifier": config.get("verifier"), "generator": config.get("generator"),
            "budgets": [budgets[k] for k in sorted(budgets)]}


# ---- writing ------------------------------------------------------------------------------------------


def _table(rows: list[dict], cols: list[str]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) >= 1000 else f"{v:.3f}"
        if isinstance(v, list):
            return ", ".join(map(str, v))
        return str(v)
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(cell(r.get(c)) for c in cols) + " |\n" for r in rows)


OPT_COLS = ["model", "budget_flops", "baseline", "difficulty", "n_problems", "chosen", "adaptive_accuracy",
            "baseline_accuracy", "gain", "gain_ci_low", "gain_ci_high", "fixed_accuracy"]
EX_COLS = ["R", "small", "large", "difficulty", "n_problems", "small_budget_per_query", "small_arms",
           "small_accuracy", "large_greedy_accuracy", "difference", "ci_low", "ci_high", "winner"]
CURVE_COLS = ["model", "strategy", "verifier", "budget", "accuracy", "ci_low", "ci_high", "gen_tokens_per_problem",
              "flops_per_problem"]


def sections(data: dict) -> list[tuple[str, str, str | None]]:
    """(title, markdown body, plot file or None) in report order."""
    marks = data.get("incomplete", {})
    out = [("Runs", "\n".join(f"- `{r}`" + (f" **INCOMPLETE: {marks[r]}**" if r in marks else "")
                               for r in data["runs"]) + "\n", None)]
    curves = [r for r in data["curves"] if r["difficulty"] == "all"]
    out.append(("Accuracy vs FLOPs (95% bootstrap bands over problems)", _table(curves, CURVE_COLS), "curves.png"))
    out.append(("Accuracy vs generated tokens", "", "tokens.png"))
    front = "".join(f"**{m}**: " + " -> ".join(f"{r['strategy']}@{r['budget']} ({r['accuracy']:.3f}, "
                                                 f"{r['flops_per_problem']:.3g})" for r in rows) + "\n\n"
                    for m, rows in data["pareto"].items())
    out.append(("Pareto frontier (accuracy, FLOPs per problem)", front, None))
    for kind in ("oracle", "predicted"):
        rows = data[kind]
        if rows:
            note = ("Bins of pass@1 from the sample pool (1 = easiest). " if kind == "oracle" else
                    "Bins of the verifier's mean score over a 4-sample probe, probe FLOPs added to every arm. ")
            note += ("Per bin, the most accurate arm costing no more than the baseline on those problems is chosen "
                     "on one half of the problems and scored on the other (2-fold); gain = held-out accuracy minus "
                     "the baseline's, 95% bootstrap interval over problems; fixed_accuracy (row all) = the best "
                     "single arm chosen the same way without bins. budget_flops = the baseline's mean FLOPs.\n\n")
            out.append((f"Compute-optimal strategy by {kind} difficulty", note + _table(rows, OPT_COLS), f"{kind}.png"))
    if data["exchange"]:
        note = ("Smaller model with test-time compute against the larger model greedy at matched total FLOPs "
                "(pretraining + inference), for R = D_inference / D_pretrain. Bins are the small model's.\n\n")
        out.append(("Pretraining vs test-time FLOPs (Snell et al.)", note + _table(data["exchange"], EX_COLS),
                    "exchange.png"))
    return out


def write(data: dict, out_dir: Path) -> Path:
    """Write report.md, report.html, report.json, the figures and the policy files into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {"curves.png": plots.curves(data["curves"], data["pareto"]),
              "tokens.png": plots.curves(data["curves"], x="gen_tokens_per_problem"),
              "oracle.png": plots.optimal(data["oracle"]) if data["oracle"] else None,
              "predicted.png": plots.optimal(data["predicted"]) if data["predicted"] else None,
              "exchange.png": plots.exchange(data["exchange"]) if data["exchange"] else None}
    for name, png in images.items():
        if png:
            write_atomic(out_dir / name, png)
    parts = sections(data)
    md = "# ttc report\n\n" + "".join(f"## {t}\n\n" + (f"![{t}]({img})\n\n" if img else "") + body + "\n"
                                      for t, body, img in parts)
    write_atomic(out_dir / "report.md", md)
    write_atomic(out_dir / "report.html", _html(parts, images))
    write_atomic(out_dir / "report.json", json.dumps(data, indent=1, default=str) + "\n")
    for model, policy in data["policies"].items():
        write_atomic(out_dir / f"policy-{model}.json", json.dumps(policy, indent=1) + "\n")
    return out_dir


def _html(parts, images) -> str:
    body = []
    for title, md, img in parts:
        body.append(f"<h2>{html.escape(title)}</h2>")
        if img and images.get(img):
            data = base64.b64encode(images[img]).decode()
            body.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
        body.append(_md_to_html(md))
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")
    check = ("<script>var errs=[];window.addEventListener('error',function(e){errs.push(String(e.message))});"
             "window.addEventListener('load',function(){var im=document.images,ok=0;for(var i=0;i<im.length;i++)"
             "{if(im[i].complete&&im[i].naturalWidth>0)ok++}document.body.setAttribute('data-rendered',ok+'/'+"
             "im.length);document.body.setAttribute('data-errors',errs.length)});</script>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>ttc report</title><style>{style}</style>"
            f"{check}</head><body><h1>ttc report</h1>{''.join(body)}</body></html>\n")


def _md_to_html(md: str) -> str:
    """Tables, bullet lists and paragraphs of the markdown this module writes."""
    out, rows = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                rows.append([html.escape(c.strip()) for c in line.strip("|").split("|")])
            continue
        if rows:
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in rows[0]) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows[1:]) + "</table>")
            rows = []
        if line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    return "\n".join(out)


def main(argv: list[str]) -> None:
    """`ttc report RUN_DIR... [--out DIR]`."""
    parser = argparse.ArgumentParser(prog="ttc report", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories, sweeps, or folders holding them")
    parser.add_argument("--out", default=None, help="output directory (default: report/ in the first path)")
    parser.add_argument("--bins", type=int, default=5, help="difficulty bins (quantiles)")
    parser.add_argument("--probe", type=int, default=4, help="samples in the difficulty probe")
    parser.add_argument("--incomplete", action="store_true", help="report unfinished runs (finished problems only)")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.runs[0]) / "report"
    data = build(args.runs, args.bins, args.probe, allow_incomplete=args.incomplete)
    write(data, out)
    print(f"report: {out / 'report.html'} ({len(data['runs'])} runs)")

