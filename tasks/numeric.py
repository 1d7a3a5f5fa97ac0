"""The numeric grader, written once: number normalisation and equality within a fixed tolerance.

Used by every task whose answers are numbers (GSM8K, a user's JSONL file). Knows nothing about where the
numbers come from; each task extracts its own.
"""

from __future__ import annotations

TOLERANCE = 1e-6  # absolute; GSM8K references are integers or short decimals
GRADER_VERSION = "numeric-v1"


def normalize(number: str) -> str:
    """'$1,234.50' -> '1234.5'; '-0' -> '0'; text that is no number is returned cleaned but unchanged."""
    value = number.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        f = float(value)
    except ValueError:
        return value
    return str(int(f)) if f == int(f) else repr(f)


def same_number(answer: str | None, reference: str) -> bool:
    """Whether an extracted answer equals the reference within TOLERANCE (exact text where either is no number)."""
    if answer is None:
        return False
    try:
        return abs(float(answer) - float(reference)) < TOLERANCE
    except ValueError:
        return answer == reference
