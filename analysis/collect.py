"""Per-problem records from many run directories, each tagged with the runnable arm that produced it.

An *arm* is a strategy config that would reproduce a record's rule at its budget: the pooled rules of a
best-of-N pool (majority@k, best-of-k by verifier, ...) become `best_of_n` with `n=k` and that selection;
fixed-budget strategies (greedy, beam search, budget forcing) are their run's own strategy config; revision
chains read at length l are the run's config with `n = P*l`. Measures that read the grades (pass@n,
G-Pass@k) have no arm.
Reads run directories only (run.json and samples.jsonl); never W&B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ttc.analysis.curves import METRICS, per_problem
from ttc.contracts.cards import pretraining_flops
from ttc.contracts.rundir import SAMPLES, finished, is_run_dir, progress, read_record, read_samples, shard_of

SELECTION_OF_RULE = {"majority": "majority", "best_of_n": "verifier", "weighted_vote": "weighted_vote",
                     "best_of_n_logprob": "logprob_sum", "best_of_n_logprob_mean": "logprob_mean", "sample": "first",
                     "best_of_n_unfiltered": "verifier", "mbr_answer": "mbr_answer", "mbr_edit": "mbr_edit",
                     "mbr_chrf": "mbr_chrf", "mbr_exec": "mbr_exec", "filter_cluster": "filter_cluster"}


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories under `paths` (a run directory itself, a sweep, or any folder of them). Shard runs
    are skipped: their merged run (written after the sweep, or by `ttc merge`) stands for them."""
    runs: list[Path] = []
    for path in map(Path, paths):
        found = [path] if is_run_dir(path) else sorted(p.parent for p in path.rglob(SAMPLES))
        for run in found:
            if shard_of(read_record(run)["config"])[1] > 1:
                continue
            if run not in runs:
                runs.append(run)
    return runs


def arm_of(record: dict, strategy_cfg: dict) -> dict | None:
    """The strategy config that reproduces `record` (None for oracle rules)."""
    rule, budget = record["series"], int(record["budget"])
    if record["curve"] == "pooled" and rule in SELECTION_OF_RULE:
        name = "majority" if rule == "majority" else ("sample" if rule == "sample" else None)
        arm = {**strategy_cfg, "n": budget, "selection": SELECTION_OF_RULE[rule]}
        if rule == "best_of_n_unfiltered":
            arm["reject"] = False
        if name:
            arm["name"] = name
        return arm
    if record.get("selection") in METRICS:  # pass@n and G-Pass read the grades: measures, not runnable arms
        return None
    if record["curve"] == "chains":
        return {**strategy_cfg, "n": budget}
    return dict(strategy_cfg)


def keep_or_tag(seen: dict, key: tuple, value: tuple, run_name: str, row: dict) -> dict | None:
    """Rows from several runs under one name: a rule read off two pools of the same seeds is the same number,
    kept once (None for the repeat); another setting under the same name (a swept hyperparameter) is kept and
    tagged with its run's name. `seen` maps key -> (value, run name) across calls."""
    if key in seen and seen[key][0] == value:
        return None
    if key in seen and seen[key][1] != run_name:
        row = {**row, "series": f"{row['series']}.{run_name}"}
    seen.setdefault(key, (value, run_name))
    return row


def load(runs: Iterable[Path]) -> list[dict]:
    """Per-problem records of every run, with `run`, `arm` and `verifier_cfg`; one rule read off two pools of
    the same seeds is kept once, and two settings that share a name are told apart by their run."""
    out, seen = [], {}
    for run in runs:
        record = read_record(run)
        config = record["config"]
        for r in per_problem(finished(read_samples(run))):
            key = (r["model"], r["series"], r["verifier"], r["budget"], r["budget_unit"], r["problem_id"])
            r = keep_or_tag(seen, key, (r["accuracy"], r["flops"]), run.name, r)
            if r is None:
                continue
            out.append({**r, "run": str(run), "arm": arm_of(r, config.get("strategy", {})),
                        "verifier_cfg": config.get("verifier"), "generator_cfg": config.get("generator"),
                        "pretrain_flops": pretraining_flops(record.get("card"))})
    return out


def incomplete(runs: Iterable[Path]) -> dict[str, str]:
    """run -> "k/N problems finished (p partial)" for every run that is not finished."""
    out = {}
    for run in runs:
        done, want, partial = progress(run)
        if partial or (want is not None and done < want):
            out[str(run)] = f"{done}/{want if want is not None else '?'} problems finished ({partial} partial)"
    return out


def arm_label(r: dict) -> str:
    """A short name for a record's arm: strategy [verifier] @budget."""
    ver = f" [{r['verifier']}]" if r["verifier"] not in ("none", "") else ""
    unit = "" if r["budget_unit"] == "samples" else f" {r['budget_unit']}"
    return f"{r['series']}{ver} @{r['budget']}{unit}"
