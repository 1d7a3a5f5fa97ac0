"""The standard MATH final-answer normalisation, applied before math-verify when the raw answers differ.

Hand-written because no maintained package ships it on its own: it is the normalisation of Minerva
(Lewkowycz et al. 2022, appendix D.1; the same lists as lm-evaluation-harness's `minerva_math` task) with
the percent handling of Hendrycks et al.'s MATH `strip_string`. Two deliberate departures, both to avoid
false matches: unit words are removed only as whole words (Minerva's plain replace turns `\\left` into
`\\le` by removing "ft"), and the article substitutions ("a ", "an ") are left out for the same reason.
"""

from __future__ import annotations

import re

SUBSTITUTIONS = ((".$", "$"), ("\\$", ""), (r"\ ", ""), ("mbox", "text"), (",\\text{and}", ","),
                 ("\\text{and}", ","), ("\\text{m}", "\\text{}"), ("\\%", ""), ("%", ""))
UNIT_WORDS = ("square", "ways", "integers", "dollars", "mph", "inches", "inch", "ft", "hours", "km", "units",
              "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters",
              "meals", "edges", "students", "childrentickets", "multiples", "percent")
REMOVED = ("\\ldots", "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}",
           "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots")
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
