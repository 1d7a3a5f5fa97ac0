"""MATH-500 (the PRM800K test split of MATH): free-form answers in `\\boxed{}`, graded by equivalence.

The answer is the content of the last `\\boxed{...}` (braces balanced) in a completion. Grading parses
both sides with `math-verify` (pinned in pyproject; its version is part of the grader version) and
asks whether they are mathematically equivalent (numbers, fractions, expressions, intervals, tuples); where
they are not as written, both go through the standard MATH normalisation (ttc.tasks.math_normalize: units,
percent signs, text wrappers) and are compared again. A repeating decimal on either side (`0.\\overline{3}`,
`0.1\\overline{6}`, `0.(3)`) is first written as the exact fraction it stands for (ttc.tasks.math_normalize).
Loads from a local JSONL file (`task.path`) or from the hub (`HuggingFaceH4/MATH-500`).
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.tasks.chat import chat_renderer
from ttc.tasks.files import read_jsonl
from ttc.contracts.records import Problem
from ttc.tasks.math_normalize import exact_repeating_decimals, normalize_answer

PROMPT = ("Solve the following math problem. Think step by step, and put the final answer in \\boxed{{}}.\n\n"
          "Problem: {problem}\n\nSolution:")
CHAT = "Solve the following math problem step by step. Put your final answer within \\boxed{{}}.\n\n{problem}"
MODES = ("plain", "chat")

MATH500_REVISION = "6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be"  # HuggingFaceH4/MATH-500 on the hub, pinned


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), with nested braces kept whole."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i:j - 1].strip() if depth == 0 else None


def equivalent(answer: str, reference: str) -> bool:
    """Whether two answers are mathematically equivalent, by math-verify: as written, or else after the
    standard MATH normalisation of both (units, percent signs, text wrappers; ttc.tasks.math_normalize).
    Repeating decimals on either side are compared as the exact fractions they stand for."""
    answer, reference = exact_repeating_decimals(answer), exact_repeating_decimals(reference)
    if _verify(answer, reference):
        return True
    a, r = normalize_answer(answer), normalize_answer(reference)
    return bool(a and r) and (a, r) != (answer, reference) and (a == r or _verify(a, r))


def _verify(answer: str, reference: str) -> bool:
    from math_verify import parse, verify

    gold, pred = parse(f"\\boxed{{{reference}}}"), parse(f"\\boxed{{{answer}}}")
    return bool(gold and pred and verify(gold, pred))


class Math500Task:
    """MATH-500, answers in \\boxed{}, graded by math-verify."""

    name = "math500"

    def __init__(self, path: str | None = None, mode: str = "plain", chat_tokenizer: str | None = None,
                 revision: str = MATH500_REVISION, limit: int | None = None) -> None:
        if mode not in MODES:
            raise bad_choice("task.mode", mode, MODES)
        if mode == "chat" and not chat_tokenizer:
            raise ConfigError("task.mode=chat needs task.chat_tokenizer (a tokenizer with a chat template)")
        self.grader_version = f"math-verify-{version('math-verify')}+minerva-norm-v1+repeating-v1"
        self.version = f"math500-{mode}-v1:{Path(path).name if path else 'HuggingFaceH4/MATH-500@' + revision}"
        rows = _read(Path(path).expanduser()) if path else _hub(revision)
        render = chat_renderer(chat_tokenizer, CHAT, "problem", "plain") if mode == "chat" else (lambda p: PROMPT.format(problem=p))
        self._problems = [
            Problem(r.get("unique_id", f"math500-{i}"), render(r["problem"]), r["answer"],
                    {"difficulty": int(r["level"]) if str(r.get("level", "")).isdigit() else None,
                     "subject": r.get("subject")})
            for i, r in enumerate(rows[:limit])
        ]

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in a fixed order."""
        return list(self._problems)

    def extract(self, text: str) -> str | None:
        """Task.extract (ttc.contracts.protocols): the final answer in a completion's text, or None."""
        return last_boxed(text)

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Task.grade (ttc.contracts.protocols): whether an extracted answer is right for the problem."""
        return answer is not None and equivalent(answer, problem.reference)


def _read(path: Path) -> list[dict]:
    return read_jsonl(path, ("problem", "answer"), need="'problem' and 'answer' fields")


def _hub(revision: str) -> list[dict]:
    try:
        from datasets import load_dataset

        return list(load_dataset("HuggingFaceH4/MATH-500", split="test", revision=revision))
    except Exception as err:
        raise ConfigError(f"task=math500: cannot load HuggingFaceH4/MATH-500@{revision} from the hub "
                          f"({type(err).__name__}); pass a local file with task.path=...") from None
