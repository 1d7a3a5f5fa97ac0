"""`ttc report RUN_DIR... [--out DIR]`: what the report shows, computed from run directories.

`build` gathers the curves (paired 95% BCa intervals), each model's Pareto frontier, paired comparisons of
every series with the baseline at the same budget, the compute-optimal strategy per difficulty bin (oracle
and predicted) with 2-fold cross-validated gains over the baseline at equal compute, Snell's pretraining vs
test-time exchange across the model family, the adaptive policy files, the series each run asked for, and
honest warnings (one line per cause). Runs of different task settings are refused together.
`ttc.analysis.page` writes it (Markdown, HTML, figures). Reads run directories only, each run once (its run.json
record, then its samples.jsonl a problem at a time: `collect.LoadedRun`), and passes the loaded runs down.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ttc.analysis.collect import LoadedRun, find_records, incomplete, load
from ttc.analysis.diagnostics import Scored, overoptimisation
from ttc.analysis.costs import COSTS, UNRECORDED, disagreements, label, machine, on_axis, unbooked
from ttc.analysis.curves import summarize
from ttc.analysis.exchange import RATIOS, exchange
from ttc.contracts.rules import bin_of
from ttc.analysis.optimal import arms_table, compute_optimal, oracle_difficulty, quantile_bins, thresholds
from ttc.contracts.errors import ConfigError
from ttc.analysis.intervals import difference
from ttc.analysis.outputs import asked_rows
from ttc.contracts.rundir import is_run_dir, read_record, shard_of
from ttc.contracts.selections import BASELINES, POOL_STRATEGY, SAMPLE, is_measure


def pareto(rows: list[dict]) -> list[dict]:
    """Rows (one model, difficulty all, no oracle) no cheaper-or-equal row beats: the frontier, cheapest first."""
    out, best = [], -1.0
    for r in sorted(rows, key=lambda r: (r["flops_per_problem"], -r["accuracy"])):
        if r["accuracy"] > best:
            out.append(r)
            best = r["accuracy"]
    return out


def _baseline(records: list[dict], model: str) -> str:
    """The series a model's arms are compared with: the first of BASELINES it has (best-of-N by verifier, else
    majority vote)."""
    has = {r["series"] for r in records if r["model"] == model}
    return next((series for series in BASELINES if series in has), BASELINES[-1])


def _predicted(runs: list[LoadedRun], model: str, n_bins: int) -> tuple[dict, dict, list[float], dict]:
    """Predicted bins of `model` from the first pooled run with verifier scores (and a strategy ttc can run): bins,
    probe cost, cuts, and the run's verifier and strategy configs (the probe re-draws the pool's first m samples)."""
    for run in runs:
        if run.record.get("meta", {}).get("generator") != model:
            continue
        head = run.head
        if "strategy" not in run.config:
            continue  # a replayed pool (ttc curves): nothing ttc could run, so no policy file
        sampled_only = run.config.get("strategy", {}).get("selection") == SAMPLE.arm  # plain sampling
        if head is None or head["curve"] != "pooled" or sampled_only or head["n_candidates"] < run.probe_m:
            continue
        scores = {pid: score for pid, (score, _) in run.probes.items()}
        cost = {pid: flops for pid, (_, flops) in run.probes.items()}
        if len(scores) >= n_bins:
            cuts = thresholds(scores, n_bins)
            return {p: bin_of(s, cuts) for p, s in scores.items()}, cost, cuts, run.config
    return {}, {}, [], {}


def build(paths: list[str], n_bins: int = 5, probe_m: int = 4, ratios=RATIOS, allow_incomplete: bool = False,
          cost: str = "flops", hardware: str = "h100") -> dict:
    """Everything the report shows, computed from the run directories under `paths`; unfinished runs are
    refused, or with `allow_incomplete` reported from their finished problems and marked with their counts.
    `cost` is the axis every cost is read on (ttc.analysis.costs; the columns keep their FLOPs names)."""
    runs, unfinished = _read(paths, allow_incomplete, probe_m)
    notes: list[str] = []
    counted = load(runs, notes)
    records = on_axis(counted, cost, hardware)
    curves = summarize(records)
    machines = [machine(run.record) for run in runs]
    axis = label(cost, hardware, machines)
    if cost != "flops":
        notes += [f"FLOPs and {axis} rank these arms differently: {line}"
                  for line in disagreements(summarize(counted), curves, cost)]
    blind = unbooked({str(run.path): run.records for run in runs}, cost)
    if blind:
        notes.append(f"--cost {cost}: {len(blind)} of {len(runs)} runs book no weight reads (an engine that batches "
                     f"out of ttc's sight, vLLM or an API, or a run recorded before they were): {', '.join(blind)}; "
                     f"their costs count KV reads alone")
    named = set(machines) - {UNRECORDED}
    if cost == "seconds" and len(named) > 1:
        notes.append(f"--cost seconds compares runs measured on {len(named)} different machines ("
                     f"{'; '.join(sorted(named))}): their seconds are not one currency")
    out: dict = {"runs": [str(r.path) for r in runs], "incomplete": unfinished, "curves": curves, "pareto": {},
                 "oracle": [], "predicted": [], "exchange": [], "policies": {}, "cost": axis}
    oracle_bins = {}
    for model in sorted({r["model"] for r in records}):
        mine = [r for r in curves if r["model"] == model and r["level"] == "all" and not is_measure(r["selection"])]
        out["pareto"][model] = [{k: r[k] for k in ("series", "verifier", "budget", "budget_unit", "accuracy", "ci_low",
                                                   "ci_high", "flops_per_problem")} for r in pareto(mine)]
        pass1 = oracle_difficulty(records, model)
        if len(pass1) >= n_bins:
            oracle_bins[model] = quantile_bins(pass1, n_bins)
            _optimal(out, runs, records, model, oracle_bins[model], n_bins, probe_m)
    out["exchange"] = exchange(records, oracle_bins, ratios)
    out["comparisons"] = comparisons(records, curves)
    out["calibration"] = Scored.joined(run.scored for run in runs).rows()
    out["overoptimisation"] = overoptimisation(curves)
    out["asked"] = asked(runs, records)
    out["warnings"] = list(dict.fromkeys(warnings(out) + notes))
    return out


def _read(paths: list[str], allow_incomplete: bool, probe_m: int) -> tuple[list[LoadedRun], dict[str, str]]:
    """The runs under `paths`, each read once, and the unfinished ones' counts; refused with one line where there
    are none (or only shards), where their task settings differ, or where one is unfinished (unless allowed)."""
    found = find_records(paths)
    if not found:
        shards = [p for p in paths if is_run_dir(Path(p)) and shard_of(read_record(p)["config"])[1] > 1]
        if shards:
            shard, k = shard_of(read_record(shards[0])["config"])
            raise ConfigError(f"report: {shards[0]} is shard {shard} of {k}; merge the shards first "
                              f"(ttc merge OUT_DIR SHARD_DIR...) and report the merged run")
        raise ConfigError(f"report: no run directories (with samples.jsonl) under {', '.join(paths)}")
    same_task(found)
    runs = [LoadedRun.of(path, record, probe_m) for path, record in found]
    unfinished = incomplete(runs)
    if unfinished and not allow_incomplete:
        run, counts = next(iter(unfinished.items()))
        more = f" (and {len(unfinished) - 1} more)" if len(unfinished) > 1 else ""
        raise ConfigError(f"report: {run} is not finished: {counts}{more}; rerun its command to finish it, "
                          f"or pass --incomplete to report finished problems only, marked incomplete")
    return runs, unfinished


def _optimal(out: dict, runs: list[LoadedRun], records: list[dict], model: str, bins: dict[str, int], n_bins: int,
             probe_m: int) -> None:
    """The compute-optimal rows of `model` by oracle difficulty (`bins`) and, where a pooled run with verifier
    scores predicts it, by predicted difficulty, with that policy file."""
    out["oracle"] += compute_optimal(records, model, bins, _baseline(records, model))
    predicted, cost, cuts, config = _predicted(runs, model, n_bins)
    if predicted:
        rows = compute_optimal(records, model, predicted, _baseline(records, model), extra=cost)
        out["predicted"] += rows
        out["policies"][model] = _policy(records, model, predicted, rows, cuts, config, probe_m)


def asked(runs: list[LoadedRun], records: list[dict]) -> list[dict]:
    """The series each run asked for, in run order (model, series, verifier): its own strategy's curve, or the
    rule its config's selection names off its pool (`asked_rows`). A run whose pool equals an earlier run's
    point for point was kept once (collect): its rule is then the earlier, untagged series of that name."""
    out: list[dict] = []
    by_run: dict[str, list[dict]] = {}
    for r in records:
        by_run.setdefault(r["run"], []).append(r)
    for run in runs:
        selection = run.config.get("strategy", {}).get("selection")
        rows = asked_rows(by_run.get(str(run.path), []), selection)
        if not rows:
            model = run.record.get("meta", {}).get("generator")
            pooled = [r for r in records if r["model"] == model and r["strategy"] == POOL_STRATEGY
                      and " (" not in r["series"]]
            rows = asked_rows(pooled, selection)[:1]
        for r in rows:
            key = {"model": r["model"], "series": r["series"], "verifier": r["verifier"]}
            if key not in out:
                out.append(key)
    return out


def same_task(runs: list[tuple[Path, dict]]) -> None:
    """Refuse runs (directory, run.json record) of different task settings in one report: their curves are not
    comparable."""
    tasks = {}
    for run, record in runs:
        task = record["config"].get("task", {})
        tasks.setdefault(repr(sorted(task.items())), (run, task))
    if len(tasks) > 1:
        (r1, t1), (r2, t2) = list(tasks.values())[:2]
        key = next(k for k in sorted(set(t1) | set(t2)) if t1.get(k) != t2.get(k))
        raise ConfigError(f"report: runs differ in task settings (task.{key}={t1.get(key)} in {r1}, "
                          f"{t2.get(key)} in {r2}); report them separately")


def comparisons(records: list[dict], curves: list[dict], seed: int = 0) -> list[dict]:
    """Every series against the model's baseline (majority, or best-of-N by verifier when there is one) at the
    same budget, over the same problems: the paired difference and its 95% BCa interval."""
    by: dict[tuple, dict[str, float]] = {}
    for r in records:
        by.setdefault((r["model"], r["series"], r["verifier"], r["budget"], r["budget_unit"]), {})[r["problem_id"]] = r["accuracy"]
    out = []
    for row in curves:
        if row["level"] != "all" or is_measure(row["selection"]):
            continue
        base_series = _baseline(records, row["model"])
        if row["series"] == base_series:
            continue
        base = next((v for k, v in by.items() if k[0] == row["model"] and k[1] == base_series
                     and k[3] == row["budget"] and k[4] == row["budget_unit"]), None)
        mine = by[(row["model"], row["series"], row["verifier"], row["budget"], row["budget_unit"])]
        common = sorted(set(mine) & set(base or {}))
        if not common:
            continue
        diff, low, high = difference([mine[p] for p in common], [base[p] for p in common], seed)
        out.append({"model": row["model"], "series": row["series"], "verifier": row["verifier"],
                    "budget": row["budget"], "budget_unit": row["budget_unit"], "baseline": base_series,
                    "n_problems": len(common), "difference": round(diff, 6), "ci_low": round(low, 6),
                    "ci_high": round(high, 6), "verdict": "better" if low > 0 else "worse" if high < 0 else "tie"})
    return out


MIN_PROBLEMS = 10  # below this a level's or bin's interval is too wide to rank strategies by


def warnings(data: dict) -> list[str]:
    """Honest warnings, one line per cause: too few problems for an interval, unfinished runs, an over-optimised
    verifier, a policy not reliably beating its baseline (one line per policy, listing its budgets)."""
    out = [f"run {run} is incomplete ({counts}); its rows use finished problems only"
           for run, counts in data.get("incomplete", {}).items()]
    small = sorted({(r["model"], r["level"], r["n_problems"]) for r in data["curves"]
                    if r["n_problems"] < MIN_PROBLEMS})
    if small:
        where = ", ".join(f"{m} level {lv} ({n})" for m, lv, n in small[:6]) + (" ..." if len(small) > 6 else "")
        out.append(f"fewer than {MIN_PROBLEMS} problems behind some rows, whose intervals are too wide to rank "
                   f"by: {where}")
    for r in data.get("overoptimisation", []):
        if r["peak_n"] is not None:
            out.append(f"best-of-n by {r['verifier']} ({r['model']}) peaks at n={r['peak_n']} and falls "
                       f"{r['drop_after_peak']:.3f} by n={r['n'][-1]} while pass@n rises: the verifier is over-optimised")
    for kind in ("oracle", "predicted"):
        weak: dict[tuple[str, str], list[dict]] = {}  # one line per policy and baseline, listing its budgets
        for r in data[kind]:
            if r["difficulty"] == "all" and r["gain"] is not None and r["gain_ci_low"] <= 0:
                weak.setdefault((r["model"], r["baseline"].rsplit(" @", 1)[0]), []).append(r)
        for (model, baseline), rs in weak.items():
            unit = data.get("cost", "FLOPs")
            at = "; ".join(f"{r['budget_flops']:.3g} {unit} {r['gain']:+.3f} [{r['gain_ci_low']:+.3f}, "
                           f"{r['gain_ci_high']:+.3f}]" for r in sorted(rs, key=lambda r: r["budget_flops"]))
            out.append(f"the {kind}-difficulty policy of {model} is not presented as compute-optimal at "
                       f"{len(rs)} budget{'s' * (len(rs) > 1)}, where its gain over its baseline {baseline} does "
                       f"not exclude 0 (gain, 95% interval): {at}")
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
    probe_cfg = {**config["strategy"], "n": m, "selection": SAMPLE.arm}  # the probe samples as `sample` does
    return {"model": model, "difficulty": "predicted", "probe": {"m": m, "thresholds": cuts, "strategy": probe_cfg},
            "verifier": config.get("verifier"), "generator": config.get("generator"),
            "budgets": [budgets[k] for k in sorted(budgets)]}


def main(argv: list[str]) -> None:
    """`ttc report RUN_DIR... [--out DIR]`."""
    parser = argparse.ArgumentParser(prog="ttc report", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories, sweeps, or folders holding them")
    parser.add_argument("--out", default=None, help="output directory (default: report/ in the first path)")
    parser.add_argument("--bins", type=int, default=5, help="difficulty bins (quantiles)")
    parser.add_argument("--probe", type=int, default=4, help="samples in the difficulty probe")
    parser.add_argument("--incomplete", action="store_true", help="report unfinished runs (finished problems only)")
    parser.add_argument("--cost", default="flops", choices=COSTS, help="the cost axis (ttc.analysis.costs)")
    parser.add_argument("--hardware", default="h100", help="the profile eFLOPs weigh memory traffic by")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.runs[0]) / "report"
    data = build(args.runs, args.bins, args.probe, allow_incomplete=args.incomplete, cost=args.cost,
                 hardware=args.hardware)
    from ttc.analysis.page import write  # plotting and templating only when writing

    write(data, out)
    print(f"report: {out / 'report.html'} ({len(data['runs'])} runs)")

