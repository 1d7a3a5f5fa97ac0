"""Reading a task's local JSONL file: one clear error naming the file, the line and the missing fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from harness.errors import ConfigError


def read_jsonl(path: Path, fields: Sequence[str], check: Callable[[dict], bool] | None = None,
               need: str | None = None) -> list[dict]:
    """The rows of `path`; each must be JSON with every one of `fields` (and pass `check`, described by `need`)."""
    if not path.is_file():
        raise ConfigError(f"task.path={path}: no such file")
    rows = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError(f"task.path={path} line {n} is not valid JSON ({err.msg})") from None
        if not isinstance(row, dict) or not all(k in row for k in fields) or (check and not check(row)):
            wanted = need or " and ".join(f"'{k}'" for k in fields)
            raise ConfigError(f"task.path={path} line {n} needs {wanted}")
        rows.append(row)
    return rows
