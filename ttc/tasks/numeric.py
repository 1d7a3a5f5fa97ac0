"""The numeric grader, written once: number normalisation and equality within a fixed tolerance.

Used by every task whose answers are numbers (GSM8K, a user's JSONL file). Knows nothing about where the
numbers come from; each task extracts its own. `SPELLED` and `spelled_number` read a cardinal number written
in English words ("one hundred and twenty-five", "a dozen"); they are hand-written (about 40 lines) because no
maintained parser (word2number, text2num) is a dependency, and they refuse word runs that are no single number
("three four", "six and seven") rather than guess.
"""

from __future__ import annotations

import re

TOLERANCE = 1e-6  # absolute; GSM8K references are integers or short decimals
GRADER_VERSION = "numeric-v1"

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_MULTIPLIERS = {"hundred": 100, "dozen": 12}
WORD_VALUES = {**{w: i for i, w in enumerate(_UNITS)}, **{w: 10 * i for i, w in enumerate(_TENS, 2)},
               **_MULTIPLIERS, **_SCALES}
_WORD = r"\b(?:" + "|".join(sorted(WORD_VALUES, key=len, reverse=True)) + r")\b"
_COUNTED = "|".join((*_MULTIPLIERS, *_SCALES))
# A run of number words joined by spaces, hyphens or "and"; "a" counts only before hundred, dozen, thousand...
SPELLED = re.compile(rf"(?i:(?:\ba\s+(?=(?:{_COUNTED})\b))?{_WORD}(?:(?:\s*-\s*|\s+(?:and\s+)?){_WORD})*)")


def normalize(number: str) -> str:
    """'$1,234.50' -> '1234.5'; '-0' -> '0'; text that is no number is returned cleaned but unchanged."""
    value = number.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        f = float(value)
    except ValueError:
        return value
    return str(int(f)) if f == int(f) else repr(f)


def spelled_number(phrase: str) -> int | None:
    """'one hundred and twenty-five' -> 125; 'two thousand three hundred' -> 2300; 'a dozen' -> 12;
    None where the words are no single number ('three four', 'six and seven', 'thousand million')."""
    total, group, previous = 0, 0, ""
    for word in re.findall(r"[a-z]+", phrase.lower()):
        value = 1 if word == "a" else WORD_VALUES.get(word)
        if word == "and":
            ok = previous in _MULTIPLIERS or previous in _SCALES
        elif value is None:
            return None
        elif word in _MULTIPLIERS:
            ok, group = 0 < group < 100, group * value
        elif word in _SCALES:
            ok = group > 0 and total % (value * 1000) == 0  # larger scales first: "two million three thousand"
            total, group = total + group * value, 0
        else:
            ok = group % 100 == 0 or (previous in _TENS and value < 10)  # "twenty-five", not "five twenty"
            group += value
        if not ok:
            return None
        previous = word
    return total + group if previous else None


def same_number(answer: str | None, reference: str) -> bool:
    """Whether an extracted answer equals the reference within TOLERANCE (exact text where either is no number)."""
    if answer is None:
        return False
    try:
        return abs(float(answer) - float(reference)) < TOLERANCE
    except ValueError:
        return answer == reference
