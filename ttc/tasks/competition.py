"""Reasoning-era competition sets with integer answers: AIME 2024, AIME 2025, AMC 2023.

Answers go in `\\boxed{}` (the last one counts, as for MATH-500); both the answer and the reference are read
as integers before comparing, because the files write them differently (AIME 2024 keeps leading zeros as
strings, "025"; AMC 2023 writes JSON floats, 27.0; AIME 2025 plain ints): `\\boxed{25}` is right for "025"
and for 25.0. An answer that is not a whole number (after dropping `$`, spaces, thousands commas and a
`\\text{}` wrapper) is wrong. Loads from a local JSONL file (`task.path`, e.g. ../shared/data/aime24/test.jsonl)
or from the hub when `task.hub` and a pinned `task.revision` are given. Problems carry no difficulty level.
"""

from __future__ import annotations

import re
from pathlib import Path

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.records import Problem
from ttc.tasks.chat import chat_renderer
from ttc.tasks.files import read_jsonl
from ttc.tasks.math500 import CHAT, PROMPT, last_boxed

SETS = ("aime24", "aime25", "amc23")
MODES = ("plain", "chat")
_TEXT = re.compile(r"^\\text\{(.*)\}$")


def as_integer(text: str | float | int | None) -> int | None:
    """The whole number an answer or reference states, or None."""
    if text is None:
        return None
    s = str(text).strip().strip("$").replace(",", "").replace(" ", "")
    m = _TEXT.match(s)
    s = m.group(1) if m else s
    try:
        value = float(s)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


class CompetitionTask:
    """AIME / AMC problems with integer answers in \\boxed{}; see the module docstring."""

    grader_version = "integer-boxed-v1"

    def __init__(self, name: str, path: str | None = None, mode: str = "plain", chat_tokenizer: str | None = None,
                 hub: str | None = None, revision: str | None = None, limit: int | None = None) -> None:
        if name not in SETS:
            raise bad_choice("task.name", name, SETS)
        if mode not in MODES:
            raise bad_choice("task.mode", mode, MODES)
        if mode == "chat" and not chat_tokenizer:
            raise ConfigError("task.mode=chat needs task.chat_tokenizer (a tokenizer with a chat template)")
        self.name = name
        rows = _read(Path(path).expanduser()) if path else _hub(name, hub, revision)
        self.version = f"{name}-{mode}-v1:{Path(path).name if path else f'{hub}@{revision}'}"
        render = chat_renderer(chat_tokenizer, CHAT, "problem", "plain") if mode == "chat" else (
            lambda p: PROMPT.format(problem=p))
        self._problems = []
        for i, r in enumerate(rows[:limit]):
            ref = as_integer(r["answer"])
            if ref is None:
                raise ConfigError(f"task={name}: the answer of row {i + 1} ({r['answer']!r}) is not a whole number")
            pid = f"{name}-{r.get('competition', '')}{'-' if r.get('competition') else ''}{r.get('id', i)}"
            self._problems.append(Problem(pid, render(r["problem"]), str(ref), {"difficulty": None}))

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in file order."""
        return list(self._problems)

    def extract(self, text: str) -> str | None:
        """Task.extract (ttc.contracts.protocols): the last \\boxed{} of a completion, or None."""
        return last_boxed(text)

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Task.grade (ttc.contracts.protocols): the answer states the reference's whole number."""
        value = as_integer(answer)
        return value is not None and value == int(problem.reference)


def _read(path: Path) -> list[dict]:
    return read_jsonl(path, ("problem", "answer"), need="'problem' and 'answer' fields")


def _hub(name: str, hub: str | None, revision: str | None) -> list[dict]:
    if not hub or not revision:
        raise ConfigError(f"task={name}: pass a local file with task.path=... (e.g. ../shared/data/{name}/test.jsonl), "
                          f"or task.hub=DATASET with task.revision=COMMIT pinned")
    try:
        from datasets import load_dataset

        return list(load_dataset(hub, split="test", revision=revision))
    except Exception as err:
        raise ConfigError(f"task={name}: cannot load {hub}@{revision} from the hub ({type(err).__name__}); "
                          f"pass a local file with task.path=...") from None
