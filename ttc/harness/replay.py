"""`ttc curves task=NAME pool=FILE.jsonl [out=DIR] [agg=last] [model=NAME] [verifier=NAME] [params=N]`: a pool of
completions made anywhere (a published best-of-N dataset, Large Language Monkeys' samples) put through ttc's
estimators, intervals and report.

The pool is a JSONL file in either of two layouts, told apart line by line:
- one line per sample: the problem id (`id`, `problem_id` or `unique_id`), the completion (`text` or
  `completion`) or its extracted `answer`, and optionally the verifier's `score` (or a list of step `scores`),
  the completion's `logprob` and its generated `tokens`;
- one line per problem, search-and-learn's dataset layout (HuggingFaceH4/search-and-learn, best-of-N): the id
  (`unique_id`, as MATH-500 has it, or `id`), `completions` (a list), `scores` (per completion a list of PRM step
  scores, aggregated as search-and-learn does: `agg=last` by default, or min, prod, mean) and optionally
  `completion_tokens` (per completion). Its `pred_*` fields (its own answers at each n) are not read: ttc
  extracts and grades every completion itself and reads each rule off the pool with its exact estimators.
Every completion's answer is extracted and graded by the task's own extractor and grader against the task's
own reference (the pool's `answer` field is never read). The result is a run directory (`out`, default the
pool's name without `.jsonl`): run.json, samples.jsonl (strategy `best_of_n`, curve `pooled`), curves.csv and
curves.png, so `ttc report DIR` reports it like any run. Compute: a pool records no FLOPs; with `params=N` (the
model's non-embedding parameters) a sample's FLOPs are 2 N x its generated tokens (prompt and verifier not
counted), else 0 and the curves' x-axis is samples only. Rules that read log-probabilities are left out of a
pool without them.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from ttc.analysis.curves import problem_records, summarize
from ttc.analysis.outputs import Curves, title_of, to_csv, write_png
from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Task
from ttc.contracts.records import Problem
from ttc.contracts.rules import aggregate
from ttc.contracts.samples import SampleLine
from ttc.contracts.vocab import AGGREGATES, Aggregate
from ttc.harness.grade import grades, task_of
from ttc.harness.store import RunStore

IDS = ("id", "problem_id", "unique_id")
LOGPROB_RULES = ("logprob_sum", "logprob_mean")
USAGE = "usage: ttc curves task=NAME pool=FILE.jsonl [out=DIR] [agg=last|min|prod|mean] [model=NAME] " \
        "[verifier=NAME] [params=N] [task.path=...]"
OPTIONS = ("pool", "out", "agg", "model", "verifier", "params")


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Task overrides and this command's own options (pool, out, agg, model, verifier, params)."""
    opts = {k: v for k, _, v in (a.partition("=") for a in argv) if k in OPTIONS}
    overrides = [a for a in argv if a.partition("=")[0] not in OPTIONS]
    if "pool" not in opts or not any(a.startswith("task=") for a in overrides):
        raise ConfigError(USAGE)
    bad = [a for a in overrides if not a.startswith("task")]
    if bad:
        raise ConfigError(f"ttc curves takes task settings and {', '.join(OPTIONS)}; {bad[0]} is not one")
    if opts.get("agg", "last") not in AGGREGATES:
        raise ConfigError(f"agg={opts['agg']} is not one of {', '.join(AGGREGATES)}")
    if not Path(opts["pool"]).expanduser().is_file():
        raise ConfigError(f"pool={opts['pool']}: no such file")
    return overrides, opts


def samples_of(row: dict, n: int, agg: Aggregate) -> list[dict]:
    """The samples of line `n` of a pool: one, or a search-and-learn row's completions."""
    if "completions" not in row:
        steps = row.get("scores") if isinstance(row.get("scores"), list) else None
        score = row.get("score", aggregate(steps, agg) if steps else None)
        return [{"text": row.get("text", row.get("completion")), "answer": row.get("answer") if "text" not in row
                 and "completion" not in row else None, "score": score, "steps": steps,
                 "logprob": row.get("logprob"), "tokens": row.get("tokens", 0)}]
    texts, scores = row["completions"], row.get("scores")
    tokens = row.get("completion_tokens") or [0] * len(texts)
    if scores is not None and len(scores) != len(texts) or len(tokens) != len(texts):
        raise ConfigError(f"pool line {n}: completions, scores and completion_tokens differ in length")
    return [{"text": t, "answer": None, "score": None if scores is None else aggregate(s, agg) if isinstance(s, list)
             else s, "steps": s if scores is not None and isinstance(s, list) else None, "logprob": None,
             "tokens": k} for t, s, k in zip(texts, scores or [None] * len(texts), tokens)]


def read_pool(path: Path, agg: Aggregate) -> dict[str, list[dict]]:
    """problem id -> its samples, in the file's order."""
    pools: dict[str, list[dict]] = {}
    with open(path) as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(f"pool={path} line {n} is not valid JSON") from None
            pid = next((row[k] for k in IDS if k in row), None)
            if pid is None:
                raise ConfigError(f"pool={path} line {n} has no problem id (one of {', '.join(IDS)})")
            pools.setdefault(str(pid), []).extend(samples_of(row, n, agg))
    return pools


def lines_of(task: Task, problem: Problem, index: int, samples: list[dict], names: dict, params: float) -> list[SampleLine]:
    """One problem's sample lines: every completion's answer extracted and graded by the task."""
    answers = [s["answer"] if s["text"] is None else task.extract(s["text"]) for s in samples]
    graded = grades(task, answers, [problem] * len(answers))
    scored = all(s["score"] is not None for s in samples)
    tokens = sum(int(s["tokens"]) for s in samples)
    ledger = {"generated_tokens": tokens, "prompt_tokens": 0, "cached_tokens": 0, "generator_flops": 2 * params * tokens,
              "verifier_flops": 0.0, "verifier_tokens": 0}
    return [{
        "task": task.name, "task_version": task.version, "grader_version": task.grader_version,
        "strategy": "best_of_n", "generator": names["model"], "verifier": names["verifier"] if scored else "none",
        "selection": None, "run_seed": 0, "problem_index": index, "problem_id": problem.id,
        "difficulty": problem.difficulty, "candidate": c, "n_candidates": len(samples), "selected": c == 0,
        "budget": len(samples), "budget_unit": "samples", "curve": "pooled", "seed": c,
        "text": s["text"] if s["text"] is not None else str(s["answer"]), "answer": a, "correct": bool(ok),
        "prompt_tokens": 0, "cached_tokens": 0, "generated_tokens": int(s["tokens"]),
        "logprob": round(float(s["logprob"] or 0.0), 6), "finish_reason": "stop",
        "flops": 2 * params * int(s["tokens"]), "prompt_flops": 0.0,
        "verifier_score": float(s["score"]) if scored else None, "verifier_tokens": 0, "verifier_flops": 0.0,
        "step_scores": s["steps"] if scored else None, "info": {}, "ledger": ledger, "prompt": problem.prompt,
        "reference": problem.reference,
    } for c, (s, a, ok) in enumerate(zip(samples, answers, graded))]


def replay(task: Task, pool: Path, out: Path, opts: dict[str, str], config: dict) -> Curves:
    """Grade the pool, write it as a run directory (`out`) and derive its curves; returns them."""
    pools = read_pool(pool, opts.get("agg", "last"))
    problems = {p.id: p for p in task.problems()}
    unknown = sorted(set(pools) - set(problems))
    if unknown:
        raise ConfigError(f"pool={pool}: problem {unknown[0]!r} is not a problem of task {task.name} "
                          f"({len(unknown)} such); pass the task the pool was made on (task=..., task.path=...)")
    has_logprob = any(s["logprob"] is not None for samples in pools.values() for s in samples)
    names = {"model": opts.get("model", pool.stem), "verifier": opts.get("verifier", "pool-score")}
    store = RunStore(out)
    store.bind({"replay": {k: opts.get(k) for k in OPTIONS} | {"pool": str(pool.resolve())}, "task": config},
               {"meta": {"task": task.name, "generator": names["model"], "strategy": "best_of_n"},
                "card": None, "problems": len(pools)})
    done = store.resume()
    order = [pid for pid in problems if pid in pools]
    for index, pid in enumerate(order):
        if pid not in done:
            store.append(lines_of(task, problems[pid], index, pools[pid], names, float(opts.get("params", 0))))
    records, head = [], []
    for lines in store.problems():
        head = head or lines[:1]
        records += [r for r in problem_records(lines) if has_logprob or r["selection"] not in LOGPROB_RULES]
    rows = summarize(records, None)
    curves = Curves(rows, to_csv(rows), title_of(head))
    store.write_curves(curves, write_png)
    return curves


def curves_command(argv: list[str], conf_dir: Path) -> None:
    """`ttc curves ...`: the pool's run directory, curves.csv and curves.png; prints where they are."""
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\n{__doc__.split(chr(10) + chr(10))[0]}")
        return
    overrides, opts = parse(argv)
    task, node = task_of(overrides, conf_dir)
    pool = Path(opts["pool"]).expanduser()
    out = Path(opts.get("out") or pool.with_suffix(""))
    curves = replay(task, pool, out, opts, OmegaConf.to_container(node, resolve=True))
    print(f"curves: {out / 'curves.csv'} ({len(curves.rows)} rows); report with: ttc report {out}")
