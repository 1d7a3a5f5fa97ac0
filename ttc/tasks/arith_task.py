"""The arithmetic world as a Task: a fixed test slice per level, its extractor and exact grader."""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Problem
from ttc.tasks import arith


class ArithTask:
    """`per_level` test problems of each requested level, in level order; `mode` picks the prompt."""

    name = "arith"
    version = arith.VERSION
    grader_version = arith.GRADER_VERSION

    def __init__(self, levels: Sequence[int] = arith.LEVELS, per_level: int = 20, split: str = "test",
                 mode: str = "solve", seed: int = 0) -> None:
        bad = [lv for lv in levels if lv not in arith.LEVELS]
        if bad:
            raise ConfigError(f"task.levels contains {bad[0]}; valid levels are {list(arith.LEVELS)}")
        if per_level < 1:
            raise ConfigError(f"task.per_level={per_level} must be at least 1")
        if split not in ("train", "test"):
            raise ConfigError(f"task.split={split} is not valid; choose one of: test, train")
        if mode not in ("solve", "think"):
            raise ConfigError(f"task.mode={mode} is not valid; choose one of: solve, think")
        self.levels, self.per_level, self.split, self.mode, self.seed = list(levels), per_level, split, mode, seed

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in a fixed order."""
        out = []
        for level in self.levels:
            for i in range(self.per_level):
                p = arith.make_problem(self.split, level, i, self.seed)
                out.append(Problem(p.uid, arith.prompt(p, self.mode), str(p.answer), {"difficulty": level}))
        return out

    def extract(self, text: str) -> str | None:
        """Task.extract (ttc.contracts.protocols): the final answer in a completion's text, or None."""
        return arith.extract_answer(text)

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Task.grade (ttc.contracts.protocols): whether an extracted answer is right for the problem."""
        return arith.grade(answer, problem.reference)
