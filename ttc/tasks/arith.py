"""The embedded arithmetic world: procedural multi-step word problems, their format and their grader.

A problem is a start amount followed by add/subtract events (1, 2, 3, 4, 7 of them for levels 1-5,
with operands up to 9, 12, 15, 20, 30); its solution is one numbered step per event (`k. a+b=c`), each
checkable on its own, then a final line `Answer: N`. The events may be applied in either of two orders
(`PLANS`): as told, or backward from the last event. Problems are drawn so that neither order's running
total goes below zero. Two valid paths to one answer are what make voting over samples pay: a slip on
one path lands on another wrong answer than a slip on the other, while right answers agree. Everything
is a pure function of (split, level, index, seed), so train and test sets are disjoint by construction
(the split enters the hash that seeds each problem) and reproducible on any machine.

This module knows nothing about models, tokenizers or the harness: it makes text and grades text.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

VERSION = "arith-v3"
GRADER_VERSION = "arith-exact-v1"
LEVELS = (1, 2, 3, 4, 5)
STEPS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 7}
MAX_OPERAND = {1: 9, 2: 12, 3: 15, 4: 20, 5: 30}
STEP_DELIM = "\n"
ANSWER_PREFIX = "Answer: "
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

NAMES = ("Ann", "Ben", "Cal", "Dee", "Eli", "Fay", "Gus", "Ivy", "Joe", "Kim", "Lu", "Max")
ITEMS = ("apples", "pens", "coins", "books", "cards", "shells", "eggs", "cups", "stamps", "nuts")
ADD_VERBS = ("gets {n} more", "buys {n} more", "finds {n} more", "is given {n} more")
SUB_VERBS = ("loses {n}", "gives away {n}", "sells {n}", "uses {n}")

_ANSWER_RE = re.compile(r"Answer:\s*(-?\d+)")
_STEP_RE = re.compile(r"^(\d+)\. (-?\d+)([+-])(\d+)=(-?\d+)$")
PLANS = ("as_told", "backward")


@dataclass(frozen=True)
class Step:
    """One arithmetic step `left op right = result` (result may be wrong in corrupted solutions)."""

    left: int
    op: str
    right: int
    result: int

    @property
    def correct_result(self) -> int:
        """The right result of this step's operation."""
        return self.left + self.right if self.op == "+" else self.left - self.right

    def text(self, k: int) -> str:
        """The step as a solution line."""
        return f"{k}. {self.left}{self.op}{self.right}={self.result}"


@dataclass(frozen=True)
class ArithProblem:
    """A generated problem: the question text, its events and the exact answer."""

    uid: str
    level: int
    question: str
    start: int
    events: tuple[tuple[str, int], ...]

    def steps(self, plan: str = "as_told") -> list[Step]:
        """The right solution's steps, applying the events in the order `plan` names (one of `PLANS`)."""
        value, out = self.start, []
        for op, n in plan_events(self.events, plan):
            nxt = value + n if op == "+" else value - n
            out.append(Step(value, op, n, nxt))
            value = nxt
        return out

    @property
    def answer(self) -> int:
        """The problem's right final answer."""
        return self.steps()[-1].result


def plan_events(events: tuple[tuple[str, int], ...], plan: str) -> list[tuple[str, int]]:
    """The events in the order a plan applies them (problems are drawn so that both keep totals >= 0)."""
    if plan == "as_told":
        return list(events)
    if plan == "backward":
        return list(events[::-1])
    raise ValueError(f"plan={plan!r} is not one of {PLANS}")


def _rng(split: str, level: int, index: int, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{VERSION}|{split}|{level}|{index}|{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def split_of(start: int, events: tuple[tuple[str, int], ...]) -> str:
    """Which split owns this arithmetic: one in eight of all (start, events) chains belongs to "test".

    Splitting on the numbers, not on the wording, keeps train and test disjoint as sets of computations.
    """
    digest = hashlib.sha256(repr((start, events)).encode()).digest()
    return "test" if digest[0] % 8 == 0 else "train"


def make_problem(split: str, level: int, index: int, seed: int = 0) -> ArithProblem:
    """The `index`-th problem of `level` in `split` ("train" or "test"); the same inputs give the same problem."""
    if level not in LEVELS:
        raise ValueError(f"level={level} is not one of {LEVELS}")
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r} is not one of ('train', 'test')")
    rng = _rng(split, level, index, seed)
    while True:
        problem = _draw(rng, split, level, index, seed)
        # as told never goes negative by construction (_draw); the backward order is checked here
        if split_of(problem.start, problem.events) == split and all(s.result >= 0 for s in problem.steps("backward")):
            return problem


def _draw(rng: random.Random, split: str, level: int, index: int, seed: int) -> ArithProblem:
    hi = MAX_OPERAND[level]
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = rng.randint(2, hi)
    start, events, sentences = value, [], [f"{name} has {value} {item}."]
    for _ in range(STEPS[level]):
        if value > 1 and rng.random() < 0.5:
            n = rng.randint(1, min(hi, value))
            events.append(("-", n))
            sentences.append(f"{name} {rng.choice(SUB_VERBS).format(n=n)}.")
            value -= n
        else:
            n = rng.randint(1, hi)
            events.append(("+", n))
            sentences.append(f"{name} {rng.choice(ADD_VERBS).format(n=n)}.")
            value += n
    sentences.append(f"How many {item} does {name} have?")
    uid = f"{split}-L{level}-{index}" + (f"-s{seed}" if seed else "")
    return ArithProblem(uid, level, " ".join(sentences), start, tuple(events))


def prompt(problem: ArithProblem, mode: str = "solve") -> str:
    """The model-facing prompt: `Q: ...` then `A:` (solve) or `T:` (think first)."""
    tag = {"solve": "A:", "think": "T:"}[mode]
    return f"Q: {problem.question}\n{tag}\n"


def solution_text(steps: list[Step], answer: int | None = None) -> str:
    """Numbered steps and the final-answer line; the answer defaults to the last step's result."""
    final = steps[-1].result if answer is None else answer
    return "".join(s.text(k) + STEP_DELIM for k, s in enumerate(steps, 1)) + f"{ANSWER_PREFIX}{final}\n"


def extract_answer(text: str) -> str | None:
    """The integer on the last `Answer:` line after any thinking block, as a string; None if absent."""
    tail = text.rsplit(THINK_CLOSE, 1)[-1]
    found = _ANSWER_RE.findall(tail)
    return found[-1] if found else None


def grade(extracted: str | None, reference: str) -> bool:
    """Exact integer match."""
    return extracted is not None and extracted.strip() == reference.strip()


def parse_steps(text: str) -> list[Step]:
    """The `k. a+b=c` lines of a solution, in order (lines of other shapes are skipped)."""
    steps = []
    for line in text.split(STEP_DELIM):
        m = _STEP_RE.match(line.strip())
        if m:
            steps.append(Step(int(m.group(2)), m.group(3), int(m.group(4)), int(m.group(5))))
    return steps


def first_wrong_step(problem: ArithProblem, text: str) -> int | None:
    """1-based index of the first step whose arithmetic or chaining is wrong; None if all steps are right.

    A step is right when its result is its own arithmetic, it continues from the previous result, and it
    applies one of the problem's events not yet applied (in any order: every plan is a right solution);
    a solution is complete when every event is applied. The world can check every step exactly.
    """
    value, remaining = problem.start, list(problem.events)
    steps = parse_steps(text)
    for k, step in enumerate(steps, 1):
        event = (step.op, step.right)
        if step.left != value or event not in remaining or step.result != step.correct_result:
            return k
        remaining.remove(event)
        value = step.result
    return None if not remaining else len(steps) + 1
