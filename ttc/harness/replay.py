"""`ttc curves task=NAME pool=FILE.jsonl [out=DIR] [agg=last] [model=NAME] [verifier=NAME] [params=N]`: a pool of
completions made anywhere (a published best-of-N dataset, Large Language Monkeys' samples) put through ttc's
estimators, intervals and report.

The pool is a JSONL file in either of two layouts, told apart line by line:
- one line per sample: the problem id (`id`, `problem_id` or `unique_id`), the completion (`text` or
  `completion`) or its extracted `answer`, and optionally the verifier's `score` (or a list of step `scores`),
  the completion's `logprob` and its generated `tokens` (a ttc samples.jsonl, such as served traffic recorded
  by `ttc serve serve.record=DIR`, reads as this layout: `verifier_score`, `generated_tokens`);
- one line per problem, search-and-learn's dataset layout (HuggingFaceH4/search-and-learn, best-of-N): the id
  (`unique_id`, as MATH-500 has it, or `id`), `completions` (a list), `scores` (per completion a list of PRM step
  scores, aggregated as search-and-learn does: `agg=last` by default, or min, prod, mean) and optionally
  `completion_tokens` (per completion). Its `pred_*` fields (its own answers at each n) are not read: ttc
  extracts and grades every completion itself and reads each rule off the pool with its exact estimators.
Every completion's answer is extracted and graded by the task's own extractor and grader against the task's
own reference (a search-and-learn row's `answer`, its reference, is never read). The result is a run directory (`out`, default the
pool's name without `.jsonl`): run.json, samples.jsonl (strategy `best_of_n`, curve `pooled`), curves.csv and
curves.png, so `ttc report DIR` reports it like any run. Compute: a pool records no FLOPs; with `params=N` (the
model's non-embedding parameters) a sample's FLOPs are 2 N x its generated tokens (prompt and verifier not
counted), else 0 and the curves' x-axis is samples only. A sample without a log-probability records none, so
the rules that rank by them are left out of its pool (ttc.analysis.pooled.applies).
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from ttc.analysis.outputs import Curves, derive_curves, write_png
from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Task
from ttc.contracts.records import Problem
from ttc.contracts.rules import aggregate
from ttc.contracts.samples import SampleLine
from ttc.contracts.vocab import AGGREGATES, Aggregate
from ttc.harness.grade import grades, task_of
from ttc.harness.store import RunStore

IDS = ("id", "problem_id", "unique_id")
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
    """The samples of line `n` of a pool: one, or a search-and-learn row's completions. A sample is its text (None
    where the line gives only an `answer`), answer, score (one, or step scores aggregated by `agg`), step
    scores, log-probability and generated tokens."""
    if "completions" in row:
        texts, scores = row["completions"], row.get("scores") or [None] * len(row["completions"])
        tokens = row.get("completion_tokens") or [0] * len(texts)
        if not len(texts) == len(scores) == len(tokens):
            raise ConfigError(f"pool line {n}: completions, scores and completion_tokens differ in length")
        return [_sample(t, None, s, None, k, agg) for t, s, k in zip(texts, scores, tokens)]
    text = row.get("text", row.get("completion"))
    score = next((row[k] for k in ("score", "scores", "verifier_score") if row.get(k) is not None), None)
    return [_sample(text, row.get("answer") if text is None else None, score, row.get("logprob"),
                    row.get("tokens", row.get("generated_tokens", 0)), agg)]


def _sample(text: str | None, answer: str | None, score: float | list[float] | None, logprob: float | None,
            tokens: int, agg: Aggregate) -> dict:
    steps = score if isinstance(score, list) else None
    return {"text": text, "answer": answer, "score": aggregate(steps, agg) if steps else score, "steps": steps,
            "logprob": logprob, "tokens": int(tokens)}


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


def lines_of(task: Task, problem: Problem, index: int, samples: list[dict], answers: list[tuple[str | None, bool]],
             names: dict, params: float) -> list[SampleLine]:
    """One problem's sample lines; `answers`: each completion's answer and grade, in order."""
    scored = all(s["score"] is not None for s in samples)
    tokens = sum(s["tokens"] for s in samples)
    ledger = {"generated_tokens": tokens, "prompt_tokens": 0, "cached_tokens": 0, "generator_flops": 2 * params * tokens,
              "verifier_flops": 0.0, "verifier_tokens": 0}
    return [{
        "task": task.name, "task_version": task.version, "grader_version": task.grader_version,
        "strategy": "best_of_n", "generator": names["model"], "verifier": names["verifier"] if scored else "none",
        "selection": None, "run_seed": 0, "problem_index": index, "problem_id": problem.id,
        "difficulty": problem.difficulty, "candidate": c, "n_candidates": len(samples), "selected": c == 0,
        "budget": len(samples), "budget_unit": "samples", "curve": "pooled", "seed": c,
        "text": s["text"] if s["text"] is not None else str(s["answer"]), "answer": a, "correct": bool(ok), "prompt_tokens": 0, "cached_tokens": 0, "generated_tokens": s["tokens"],
        "logprob": None if s["logprob"] is None else round(float(s["logprob"]), 6), "finish_reason": "stop",
        "flops": 2 * params * s["tokens"], "prompt_flops": 0.0,
        "verifier_score": float(s["score"]) if scored else None, "verifier_tokens": 0, "verifier_flops": 0.0,
        "step_scores": s["steps"] if scored else None, "info": {}, "ledger": ledger, "prompt": problem.prompt,
        "reference": problem.reference,
    } for c, (s, (a, ok)) in enumerate(zip(samples, answers))]


def served(pool: Path) -> bool:
    """Whether the pool is served traffic recorded by `ttc serve serve.record=...` (its run.json says so)."""
    record = pool.parent / "run.json"
    return pool.name == "samples.jsonl" and record.exists() and json.loads(record.read_text()).get("served") is True


def pooled_requests(pools: dict[str, list[dict]], known: set[str]) -> dict[str, list[dict]]:
    """A served day's requests by task problem: a repeated request (id~k) joins its problem's pool; requests whose
    id is no problem of the task are left out, with one line saying how many."""
    out: dict[str, list[dict]] = {}
    left = 0
    for pid, samples in pools.items():
        base = pid.rsplit("~", 1)[0] if "~" in pid and pid.rsplit("~", 1)[1].isdigit() else pid
        if base in known:
            out.setdefault(base, []).extend(samples)
        else:
            left += 1
    if left:
        print(f"ttc curves: {left} served requests name no problem of this task (ttc.problem_id); left out")
    return out


def _answer(task: Task, sample: dict) -> str | None:
    """A sample's answer: the task's extraction from its text, or the answer the pool gives alone."""
    return sample["answer"] if sample["text"] is None else task.extract(sample["text"])


def replay(task: Task, pool: Path, out: Path, opts: dict[str, str], config: dict) -> Curves:
    """Grade the pool (every answer in one call of the task's grader), write it as a run directory (`out`) and
    derive its curves; returns them."""
    pools = read_pool(pool, opts.get("agg", "last"))
    problems = {p.id: p for p in task.problems()}
    if served(pool):  # a served day: a repeat id~k pools under its id; requests of no task problem are left out
        pools = pooled_requests(pools, set(problems))
    unknown = sorted(set(pools) - set(problems))
    if unknown:
        raise ConfigError(f"pool={pool}: problem {unknown[0]!r} is not a problem of task {task.name} "
                          f"({len(unknown)} such); pass the task the pool was made on (task=..., task.path=...)")
    names = {"model": opts.get("model", pool.stem), "verifier": opts.get("verifier", "pool-score")}
    store = RunStore(out)
    store.bind({"replay": {k: opts.get(k) for k in OPTIONS} | {"pool": str(pool.resolve())}, "task": config},
               {"meta": {"task": task.name, "generator": names["model"], "strategy": "best_of_n"},
                "card": None, "problems": len(pools)})
    done = store.resume()
    todo = [(index, pid) for index, pid in enumerate(pid for pid in problems if pid in pools) if pid not in done]
    pairs = [(_answer(task, s), problems[pid]) for _, pid in todo for s in pools[pid]]
    graded = iter(zip([a for a, _ in pairs], grades(task, [a for a, _ in pairs], [p for _, p in pairs])))
    for index, pid in todo:
        mine = [next(graded) for _ in pools[pid]]
        store.append(lines_of(task, problems[pid], index, pools[pid], mine, names, float(opts.get("params", 0))))
    curves = derive_curves(store.problems(), None)
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
