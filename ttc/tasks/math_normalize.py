"""The standard MATH final-answer normalisation, applied before math-verify when the raw answers differ.

Hand-written because no maintained package ships it on its own: it is the normalisation of Minerva
(Lewkowycz et al. 2022, appendix D.1; the same lists as lm-evaluation-harness's `minerva_math` task) with
the percent handling of Hendrycks et al.'s MATH `strip_string`. Two deliberate departures, both to avoid
false matches: unit words are removed only as whole words (Minerva's plain replace turns `\\left` into
`\\le` by removing "ft"), and the article substitutions ("a ", "an ") are left out for the same reason.
`exact_repeating_decimals` is ours, not Minerva's: it writes a repeating decimal (`0.\\overline{3}`, `0.(3)`) as
the exact fraction it stands for, which math-verify then compares as it compares any fraction (Minerva's
wrapper removal would read `0.\\overline{3}` as 0.3).
"""

from __future__ import annotations

import re
from fractions import Fraction

SUBSTITUTIONS = ((".$", "$"), ("\\$", ""), (r"\ ", ""), ("mbox", "text"), (",\\text{and}", ","),
                 ("\\text{and}", ","), ("\\text{m}", "\\text{}"), ("\\%", ""), ("%", ""))
UNIT_WORDS = ("square", "ways", "integers", "dollars", "mph", "inches", "inch", "ft", "hours", "km", "units",
              "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters",
              "meals", "edges", "students", "childrentickets", "multiples", "percent")
REMOVED = ("\\ldots", "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}",
           "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots")
# 1.2\overline{34} (\bar too) anywhere in an answer; 1.2(34) only as the whole answer, where it cannot be a product
_OVERLINE = re.compile(r"(\d*)\.(\d*)\\(?:overline|bar)\s*\{\s*(\d+)\s*\}")
_PARENS = re.compile(r"^(\s*-?\s*)(\d*)\.(\d*)\((\d+)\)\s*$")
_WORDS = re.compile(r"(?<![A-Za-z\\])(?:" + "|".join(UNIT_WORDS) + r")(?![A-Za-z])")


def normalize_answer(answer: str) -> str:
    """'10\\text{ inches}' -> '10'; '50\\%' -> '50'; 'x = \\frac12' -> '\\frac{1}{2}'; '100,000' -> '100000'."""
    final = answer.split("=")[-1]
    for before, after in SUBSTITUTIONS:
        final = final.replace(before, after)
    final = _WORDS.sub("", final)
    final = final.replace(" ", "")
    for expr in REMOVED:
        final = final.replace(expr, "")
    final = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", final)
    for wrapper in ("text", "textbf", "overline"):
        final = re.sub(r"(\\" + wrapper + r"\{)(.*?)(\})", "\\2", final)
    final = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", final)
    final = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", final)
    final = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", final)
    final = final.replace("$", "")
    if final.replace(",", "").isdigit():
        final = final.replace(",", "")
    return final


def repeating_decimal(whole: str, fixed: str, period: str) -> Fraction:
    """The exact value of whole.fixed(period) repeating: ('0', '1', '6') -> 1/6; ('1', '', '27') -> 14/11."""
    digits = whole + fixed
    return Fraction(int(digits + period) - int(digits or "0"), 10 ** len(fixed) * (10 ** len(period) - 1))


def _latex(value: Fraction) -> str:
    """A fraction as LaTeX: 1/3 -> "\\frac{1}{3}", 1 -> "1"."""
    return str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def exact_repeating_decimals(answer: str) -> str:
    """'0.\\overline{3}' -> '\\frac{1}{3}'; '0.1\\overline{6}' -> '\\frac{1}{6}'; '-0.(3)' -> '-\\frac{1}{3}';
    any other text is returned unchanged (terminating decimals stay decimals: '0.33' is not 1/3)."""
    answer = _OVERLINE.sub(lambda m: _latex(repeating_decimal(*m.groups())), answer)
    return _PARENS.sub(lambda m: m[1] + _latex(repeating_decimal(m[2], m[3], m[4])), answer)
