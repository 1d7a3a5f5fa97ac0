"""Program assembly for code tasks: the code in a completion, and the program a prompt and that code make.

Shared by the code tasks (which append hidden tests) and the unit-test verifier (which appends the prompt's
public tests); knows nothing about tests, grading or the sandbox that runs the result.
"""

from __future__ import annotations

import re
from pathlib import Path

_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


def extract_code(text: str) -> str:
    """The first fenced Python block of a completion, or the whole completion when it has none."""
    m = _FENCE.search(text)
    return m.group(1) if m else text


def code_prefix(prompt: str) -> str:
    """The code a prompt asks to complete: its first fenced block (a chat prompt quotes the code so), or the
    prompt itself (a plain completion prompt is code)."""
    m = _FENCE.search(prompt)
    return m.group(1) if m else prompt


def program(prompt: str, code: str, entry_point: str) -> str:
    """The candidate program: a body continuation is appended to the prompt's code; a full definition follows it."""
    prefix = code_prefix(prompt)
    full = re.search(rf"^def {re.escape(entry_point)}\b", code, re.M) is not None
    return prefix + ("\n" + code if full else code)


_PLUS_CHECK = Path(__file__).with_name("plus_check.py").read_text()


def plus_check_program(task: dict) -> str:
    """EvalPlus's check (ttc/sandbox/plus_check.py) with one problem bound: a task's hidden tests."""
    return f"{_PLUS_CHECK}\n_TTC_TASK = {task!r}\n"


def plus_check_call(hidden: str, code: str) -> str:
    """The sandbox program checking a candidate's whole program `code` with `plus_check_program`'s tests."""
    return f"{hidden}_ttc_plus_check(_TTC_TASK, {code!r})\n"
