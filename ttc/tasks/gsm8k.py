"""GSM8K: grade-school math word problems with numeric answers.

Prompts: `fewshot` (the 8 chain-of-thought exemplars of Wei et al. 2022, "Q: ... A: ... The answer is N.")
or `chat` (zero-shot: an instruction wrapped in a model's chat template, from `chat_tokenizer`, a local
tokenizer directory or hub id). The reference is the number after `####` in the dataset's answer.
Extraction tries, in order: "The answer is N" (the result after the last "=" of a calculation), "#### N",
"\\boxed{N}", then the last number outside parentheses; Unicode minus signs count as minus signs, `\\$` is a
dollar sign and LaTeX math delimiters (`\\(...\\)`, `\\[...\\]`) are no parentheses. A number written in
words ("eighteen", "one hundred and twenty-five"; ttc.tasks.numeric.spelled_number) is read where digits are
not: at a cue with no digits, or at the end when the last sentence that states a number states it in words
only (a lone "one" is not read there: "one of them", "each one"). Digits win everywhere else.
Loads from a local JSONL file (`task.path`) or from the hub (`openai/gsm8k`, config "main").
"""

from __future__ import annotations

import re
from pathlib import Path

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.tasks.chat import chat_renderer
from ttc.tasks.files import read_jsonl
from ttc.tasks.numeric import GRADER_VERSION, SPELLED, normalize, same_number, spelled_number
from ttc.contracts.records import Problem

EXEMPLARS = (
    ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
     "there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have "
     "been 21 - 15 = 6. The answer is 6."),
    ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."),
    ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
     "they had 74 - 35 = 39. The answer is 39."),
    ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
     "Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
     "The answer is 8."),
    ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have "
     "now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. "
     "The answer is 9."),
    ("There were nine computers in the server room. Five more computers were installed each day, from monday to "
     "thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 "
     "computers were added. 9 + 20 is 29. The answer is 29."),
    ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf "
     "balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, "
     "he had 35 - 2 = 33 golf balls. The answer is 33."),
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars "
     "left. 23 - 15 is 8. The answer is 8."),
)
CHAT_INSTRUCTION = ("Solve the following math problem step by step. End your response with "
                    "\"The answer is N.\" where N is the final number.\n\n{question}")
# A number with its sign: a minus sign counts only when it touches the digits and does not follow a digit or
# a closing bracket ("-3", "$-3", "−3" are negative; "21 - 15", "21-15" are subtractions).
_NUM = r"(?:(?<![\d)\]])-)?(?:\$\s?)?-?[\d,]*\.?\d+"
_MINUS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})
_ANSWER_IS = re.compile(r"[Tt]he (?:final )?answer is[:\s]*(.*?)(?:\.(?:\s|$)|\n|$)")
_MATH_DELIMITERS = re.compile(r"\\[()\[\]]")  # "\\(", "\\)", "\\[", "\\]": LaTeX math, no parentheses
_LAST = re.compile(_NUM)
_ASIDE = re.compile(r"\([^()]*\)")
_TITLES = ("Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs")  # a period after these ends no sentence
_SENTENCE_END = re.compile("".join(rf"(?<!\b{t})" for t in _TITLES) + r"[.!?]\s|\n")
MODES = ("fewshot", "chat")

GSM8K_REVISION = "740312add88f781978c0658806c59bc2815b9866"  # openai/gsm8k on the hub, pinned


def _cue_patterns(number: str) -> tuple[re.Pattern, ...]:
    """'#### N' and '\\boxed{N}', for N matched by the regular expression `number`."""
    return re.compile(r"####\s*(" + number + ")"), re.compile(r"\\boxed\{\s*(" + number + r")\s*\}")


_PATTERNS = _cue_patterns(_NUM) + _cue_patterns(SPELLED.pattern)  # digits first: they win over words


def _value(number: str) -> str | None:
    """A matched number, in digits or in words, as normalised text; None for words that are no number."""
    if any(c.isdigit() for c in number):
        return normalize(number)
    value = spelled_number(number)
    return None if value is None else str(value)


def _numbers(pattern: re.Pattern, text: str) -> list[str]:
    """The numbers `pattern` finds in `text` (its group where it has one), words that are no number left out."""
    return [n for n in pattern.findall(text) if _value(n) is not None]


def extract(text: str) -> str | None:
    """The answer in a GSM8K completion: 'The answer is N' (the result after the last '=' where the sentence
    is a calculation), '#### N', a boxed number, or the last number outside parenthetical remarks; N may be
    written in words where no digits stand there (see the module docstring). Unicode minus signs and dashes
    before a number are minus signs."""
    text = _MATH_DELIMITERS.sub(" ", text.translate(_MINUS)).replace("\\$", "$")
    for sentence in reversed(_ANSWER_IS.findall(text)):
        tail = sentence.split("=")[-1]
        found = _numbers(_LAST, tail) or _numbers(SPELLED, tail)
        if found:
            return _value(found[0])
    for pattern in _PATTERNS:
        found = _numbers(pattern, text)
        if found:
            return _value(found[-1])
    return _last_number(text)


def _last_number(text: str) -> str | None:
    """The last number outside parenthetical remarks; in words only where the last sentence stating a number
    has no digits, and never a lone 'one' ('one of them')."""
    plain = text
    while _ASIDE.search(plain):
        plain = _ASIDE.sub(" ", plain)
    digits = list(_LAST.finditer(plain))
    words = [m for m in SPELLED.finditer(plain) if m.group().lower() != "one" and _value(m.group()) is not None]
    after = digits[-1].end() if digits else 0
    if words and words[-1].start() >= after and (not digits or _SENTENCE_END.search(plain, after, words[-1].start())):
        return _value(words[-1].group())
    found = [m.group() for m in digits] or _LAST.findall(text)
    return normalize(found[-1]) if found else None


def fewshot_prompt(question: str) -> str:
    """The 8-shot chain-of-thought prompt for a question."""
    shots = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in EXEMPLARS)
    return f"{shots}Q: {question}\nA:"


class GSM8KTask:
    """GSM8K (few-shot chain of thought or zero-shot chat), graded numerically."""

    name = "gsm8k"
    grader_version = GRADER_VERSION + "+gsm8k-extract-v3"  # v3: numbers in words, LaTeX \( \) and \$

    def __init__(self, path: str | None = None, mode: str = "fewshot", chat_tokenizer: str | None = None,
                 revision: str = GSM8K_REVISION, split: str = "test", limit: int | None = None) -> None:
        if mode not in MODES:
            raise bad_choice("task.mode", mode, MODES)
        if mode == "chat" and not chat_tokenizer:
            raise ConfigError("task.mode=chat needs task.chat_tokenizer (a tokenizer with a chat template)")
        self.mode, self.limit = mode, limit
        self.version = f"gsm8k-{mode}-v1:{Path(path).name if path else 'openai/gsm8k@' + revision}"
        rows = _read(Path(path).expanduser()) if path else _hub(revision, split)
        self._template = (chat_renderer(chat_tokenizer, CHAT_INSTRUCTION, "question", "fewshot")
                          if mode == "chat" else None)
        self._problems = [self._problem(i, r) for i, r in enumerate(rows[:limit])]

    def _problem(self, i: int, row: dict) -> Problem:
        question = row["question"]
        prompt = fewshot_prompt(question) if self._template is None else self._template(question)
        reference = row["answer"].split("####")[-1].strip()
        return Problem(f"gsm8k-{i}", prompt, normalize(reference), {"question": question})

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in a fixed order."""
        return list(self._problems)

    def extract(self, text: str) -> str | None:
        """The answer in a GSM8K completion: 'The answer is N', '#### N', a boxed number, or the last number."""
        return extract(text.split("\nQ:")[0] if self.mode == "fewshot" else text)  # ignore an invented next shot

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Numeric equality with the reference (ttc.tasks.numeric)."""
        return same_number(answer, problem.reference)


def _read(path: Path) -> list[dict]:
    return read_jsonl(path, ("question", "answer"), lambda row: "####" in str(row["answer"]),
                      "'question' and an 'answer' with '####'")


def _hub(revision: str, split: str) -> list[dict]:
    try:
        from datasets import load_dataset

        return list(load_dataset("openai/gsm8k", "main", split=split, revision=revision))
    except Exception as err:
        raise ConfigError(f"task=gsm8k: cannot load openai/gsm8k@{revision} from the hub ({type(err).__name__}); "
                          f"pass a local file with task.path=...") from None
