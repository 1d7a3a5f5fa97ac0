"""A question/answer task read from a user's local JSONL file, graded by the shared numeric grader (ttc.tasks.numeric).

Each line is a JSON object; `question_field` fills `template`, and the reference is the first group of
`reference_pattern` matched in `answer_field` (the whole field when the pattern is empty). Answers are
extracted from completions as the number after the last "Answer:" or, failing that, the last number.
Malformed files stop before any work, naming the file, the line and the problem.
"""

from __future__ import annotations

import re
from pathlib import Path

from ttc.contracts.errors import ConfigError
from ttc.tasks.files import iter_jsonl
from ttc.tasks.numeric import GRADER_VERSION, normalize, same_number
from ttc.contracts.records import Problem

_ANSWER = re.compile(r"Answer:\s*\$?(-?[\d,]*\.?\d+)")
_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


class JsonlTask:
    """Questions and numeric answers from a user's JSONL file; see the module docstring."""

    name = "jsonl"
    version = "jsonl-v1"
    grader_version = GRADER_VERSION

    def __init__(self, path: str, question_field: str = "question", answer_field: str = "answer",
                 template: str = "Q: {question}\nA:\n", reference_pattern: str = "", limit: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.fields, self.template, self.limit = (question_field, answer_field), template, limit
        self.pattern = re.compile(reference_pattern) if reference_pattern else None
        self.version = f"jsonl-v1:{self.path.name}"
        self._problems = self._load()

    def _load(self) -> list[Problem]:
        out = []
        for n, row in iter_jsonl(self.path, self.fields, hint="; set task.question_field / task.answer_field"):
            out.append(Problem(f"{self.path.stem}-{len(out)}", self.template.format(question=row[self.fields[0]]),
                               self._reference(str(row[self.fields[1]]), n), {"line": n}))
            if self.limit is not None and len(out) >= self.limit:
                break
        return out

    def _reference(self, answer: str, n: int) -> str:
        if self.pattern is None:
            return normalize(answer)
        m = self.pattern.search(answer)
        if not m:
            raise ConfigError(f"task.path={self.path} line {n}: task.reference_pattern finds nothing in the answer")
        return normalize(m.group(1) if m.groups() else m.group(0))

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in a fixed order."""
        return list(self._problems)

    def extract(self, text: str) -> str | None:
        """Task.extract (ttc.contracts.protocols): the final answer in a completion's text, or None."""
        found = _ANSWER.findall(text) or _NUMBER.findall(text)
        return normalize(found[-1]) if found else None

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Numeric equality with the reference (ttc.tasks.numeric)."""
        return same_number(answer, problem.reference)
