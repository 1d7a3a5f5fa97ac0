"""Reading a task's local JSONL file: one clear error naming the file, the line and the missing fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ttc.contracts.errors import ConfigError


def iter_jsonl(path: Path, fields: Sequence[str], check: Callable[[dict], bool] | None = None,
               need: str | None = None, hint: str = "", field: str = "task.path") -> Iterator[tuple[int, dict]]:
    """(line number, row) of `path`; each row must be a JSON object with every one of `fields` (and pass
    `check`). A bad row stops with "needs NEED", or with the first missing field and `hint`."""
    text = read_text(path, field)
    if not text.strip():
        raise ConfigError(f"{field}={path} is empty: a JSONL file has one JSON object per line")
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{field}={path} line {n} is not valid JSON ({err.msg})") from None
        missing = [f for f in fields if not isinstance(row, dict) or f not in row]
        if need and (missing or (check and not check(row))):
            raise ConfigError(f"{field}={path} line {n} needs {need}")
        if missing:
            raise ConfigError(f"{field}={path} line {n} has no field {missing[0]!r}{hint}")
        yield n, row


def read_text(path: Path, field: str = "task.path") -> str:
    """The UTF-8 text of a data file (gzip-compressed when it ends in .gz), or one line naming what is wrong."""
    import gzip

    if not path.is_file():
        raise ConfigError(f"{field}={path}: no such file")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ConfigError(f"{field}={path} ends in .gz but is not a whole gzip file ({err})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{field}={path} is not UTF-8 text (byte {err.start} is {data[err.start]:#04x}); "
                          f"is it a binary or compressed file?") from None


def read_jsonl(path: Path, fields: Sequence[str], check: Callable[[dict], bool] | None = None,
               need: str | None = None) -> list[dict]:
    """Every row of `path` (see iter_jsonl)."""
    return [row for _, row in iter_jsonl(path, fields, check, need)]
