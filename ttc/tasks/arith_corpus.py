"""Training corpus of the arithmetic world: every format a later strategy needs, taught once.

Each example is a list of (text, trainable) segments; the trainer puts loss only on trainable text, so
corrupted solutions shown to the model as *input* (to verify or to revise) are never taught as output.
Every solution shown, right or corrupted, follows a plan drawn uniformly from `PLANS` (the order in which
the events are applied). Formats and their weights:
- solve:   `Q: ...\\nA:\\n` -> numbered steps and `Answer: N` (the task itself);
- think:   `Q: ...\\nT:\\n` -> `<think>` steps with re-checks `Wait, check k: ...` that fix wrong steps,
           `</think>`, `Answer: N` (budget forcing appends "Wait" to extend this block);
- verify:  a solution prefix then `Check k:` -> ` yes`/` no` for step k, or a whole solution then
           `Check:` -> ` yes`/` no` for the whole (process and outcome verification, self-critique);
- revise:  `Previous attempt:` one or two (mostly wrong) attempts, `Corrected attempt:` -> a right one.

Knows nothing about tokenizers or models.
"""

from __future__ import annotations

import random

from ttc.tasks.arith import (
    LEVELS,
    PLANS,
    THINK_CLOSE,
    THINK_OPEN,
    ArithProblem,
    Step,
    make_problem,
    plan_events,
    prompt,
    solution_text,
)

CORPUS_VERSION = "arith-corpus-v3"
FORMAT_WEIGHTS = {"solve": 0.6, "think": 0.1, "verify": 0.15, "revise": 0.15}
Segments = list[tuple[str, bool]]


def _wrong(value: int, rng: random.Random) -> int:
    """A plausible arithmetic slip: off by one, off by ten, or a swapped last digit."""
    for _ in range(10):
        kind = rng.random()
        if kind < 0.4:
            out = value + rng.choice((-1, 1))
        elif kind < 0.7:
            out = value + rng.choice((-10, 10))
        else:
            out = value - value % 10 + rng.randint(0, 9)
        if out != value and out >= 0:
            return out
    return value + 1


def corrupt(problem: ArithProblem, rng: random.Random, at: int | None = None, plan: str = "as_told") -> list[Step]:
    """The plan's steps with one slip at step `at` (random if None); later steps chain from the slip."""
    events = plan_events(problem.events, plan)
    at = rng.randrange(len(events)) if at is None else at
    value, out = problem.start, []
    for k, (op, n) in enumerate(events):
        result = value + n if op == "+" else value - n
        if k == at:
            result = _wrong(result, rng)
        out.append(Step(value, op, n, result))
        value = result
    return out


def _plan(rng: random.Random) -> str:
    return rng.choice(PLANS)


def solve_example(problem: ArithProblem, rng: random.Random) -> Segments:
    """One training example in solve mode: the prompt and a right solution."""
    return [(prompt(problem, "solve"), False), (solution_text(problem.steps(_plan(rng))), True)]


def think_example(problem: ArithProblem, rng: random.Random) -> Segments:
    """Thinking with slips (not trained on) caught by `Wait, check k:` re-checks, then the answer."""
    segs: Segments = [(prompt(problem, "think"), False), (THINK_OPEN + "\n", True)]
    value, k, plan = problem.start, 0, _plan(rng)
    for k, (op, n) in enumerate(plan_events(problem.events, plan), 1):
        right = value + n if op == "+" else value - n
        slip = rng.random() < 0.25
        shown = _wrong(right, rng) if slip else right
        segs.append((Step(value, op, n, shown).text(k) + "\n", not slip))
        if slip or rng.random() < 0.2:
            segs.append((f"Wait, check {k}: {value}{op}{n}={right}\n", True))
        value = right
    if rng.random() < 0.3:
        last = problem.steps(plan)[-1]
        segs.append((f"Wait, check {k}: {last.left}{last.op}{last.right}={last.result}\n", True))
    segs.append((f"{THINK_CLOSE}\nAnswer: {value}\n", True))
    return segs


def verify_example(problem: ArithProblem, rng: random.Random) -> Segments:
    """A step check (`Check k:`) on a prefix whose last step may be wrong, or a whole-solution check."""
    bad, plan = rng.random() < 0.5, _plan(rng)
    n_steps = len(problem.events)
    if rng.random() < 0.5:
        k = rng.randint(1, n_steps)
        steps = corrupt(problem, rng, at=k - 1, plan=plan) if bad else problem.steps(plan)
        shown = "".join(s.text(i) + "\n" for i, s in enumerate(steps[:k], 1))
        query = f"Check {k}:"
    else:
        steps = corrupt(problem, rng, plan=plan) if bad else problem.steps(plan)
        shown, query = solution_text(steps), "Check:"
    return [(prompt(problem, "solve") + shown + query, False), (" no\n" if bad else " yes\n", True)]


def revise_example(problem: ArithProblem, rng: random.Random) -> Segments:
    """One or two previous attempts (80% wrong), then a corrected attempt that is right."""
    attempts = []
    for _ in range(rng.choice((1, 1, 2)) if problem.level <= 3 else 1):  # keeps level 5 within the context
        plan = _plan(rng)
        steps = corrupt(problem, rng, plan=plan) if rng.random() < 0.8 else problem.steps(plan)
        attempts.append("Previous attempt:\n" + solution_text(steps))
    head = f"Q: {problem.question}\n" + "".join(attempts) + "Corrected attempt:\n"
    return [(head, False), (solution_text(problem.steps(_plan(rng))), True)]


def example(index: int, seed: int) -> Segments:
    """The `index`-th training example of the corpus: format and level drawn from (index, seed)."""
    rng = random.Random(f"{CORPUS_VERSION}|{seed}|{index}")
    level = rng.choice(LEVELS)
    problem = make_problem("train", level, index, seed)
    fmt = rng.choices(list(FORMAT_WEIGHTS), weights=list(FORMAT_WEIGHTS.values()))[0]
    if fmt == "solve":
        return solve_example(problem, rng)
    if fmt == "think":
        return think_example(problem, rng)
    if fmt == "verify":
        return verify_example(problem, rng)
    return revise_example(problem, rng)
