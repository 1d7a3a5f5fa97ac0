"""MNLI (MultiNLI): does the premise entail, contradict, or say nothing about the hypothesis?

Two modes:
- `score`: prompt-based classification. Each problem carries its verbalisers as public `choices`
  (" yes" / " maybe" / " no" by default); `strategy=label_scoring` scores each one's log-probability
  after the prompt and picks the argmax.
- `generate`: the model reasons and ends with "Answer: <label>"; sampling strategies (majority vote)
  apply as for any task.
The extractor maps the last label word or verbaliser in a text to its label. Loads from a local JSONL
file (`premise`, `hypothesis`, `label` as a word or 0/1/2) or from the hub (nyu-mll/glue, mnli).
"""

from __future__ import annotations

import re
from pathlib import Path

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.tasks.files import read_jsonl
from ttc.contracts.records import Problem

LABELS = ("entailment", "neutral", "contradiction")  # GLUE's 0, 1, 2
SPLITS = ("validation_matched", "validation_mismatched")
SCORE_TEMPLATE = ("Premise: {premise}\nHypothesis: {hypothesis}\n"
                  "Does the premise entail the hypothesis? Answer yes, maybe, or no.\nAnswer:")
GENERATE_TEMPLATE = ("Premise: {premise}\nHypothesis: {hypothesis}\n"
                     "Is the hypothesis entailed by the premise, contradicted by it, or neutral? Think step by step, "
                     "then end with \"Answer: entailment\", \"Answer: neutral\" or \"Answer: contradiction\".\n")
VERBALISERS = {"entailment": " yes", "neutral": " maybe", "contradiction": " no"}

GLUE_REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"  # nyu-mll/glue on the hub, pinned


class MNLITask:
    """MNLI: premise/hypothesis pairs, scored by label verbalisers or generated and parsed."""

    name = "mnli"
    grader_version = "label-exact-v1"

    def __init__(self, path: str | None = None, mode: str = "score", split: str = "validation_matched",
                 revision: str = GLUE_REVISION, limit: int | None = None, verbalisers: dict | None = None,
                 template: str | None = None) -> None:
        if mode not in ("score", "generate"):
            raise bad_choice("task.mode", mode, ("score", "generate"))
        if split not in SPLITS:
            raise bad_choice("task.split", split, SPLITS)
        self.mode, self.verbalisers = mode, dict(verbalisers or VERBALISERS)
        if sorted(self.verbalisers) != sorted(LABELS):
            raise ConfigError(f"task.verbalisers must map exactly {list(LABELS)} to strings")
        self.template = template or (SCORE_TEMPLATE if mode == "score" else GENERATE_TEMPLATE)
        self.version = f"mnli-{mode}-v1:{Path(path).name if path else f'nyu-mll/glue@{revision}:{split}'}"
        rows = _read(Path(path).expanduser()) if path else _hub(split, revision)
        choices = [self.verbalisers[label] for label in LABELS]
        self._problems = [
            Problem(f"mnli-{i}", self.template.format(premise=r["premise"], hypothesis=r["hypothesis"]),
                    _label(r["label"]), {"choices": choices} if mode == "score" else {})
            for i, r in enumerate(rows[:limit])
        ]

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in a fixed order."""
        return list(self._problems)

    def extract(self, text: str) -> str | None:
        """Task.extract (ttc.contracts.protocols): the final answer in a completion's text, or None."""
        words = {**{label: label for label in LABELS}, **{v.strip().lower(): k for k, v in self.verbalisers.items()}}
        if self.mode == "generate":
            tail = text.rsplit("Answer:", 1)
            text = tail[-1] if len(tail) > 1 else text
        found = re.findall(r"[a-z]+", text.lower())
        hits = [words[w] for w in found if w in words]
        return hits[0] if self.mode == "score" and hits else (hits[-1] if hits else None)

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Task.grade (ttc.contracts.protocols): whether an extracted answer is right for the problem."""
        return answer == problem.reference


def _label(value) -> str:
    if isinstance(value, int) and 0 <= value < 3:
        return LABELS[value]
    if str(value) in LABELS:
        return str(value)
    raise ConfigError(f"MNLI label {value!r} is not one of {list(LABELS)} or 0/1/2")


def _read(path: Path) -> list[dict]:
    return read_jsonl(path, ("premise", "hypothesis", "label"), need="'premise', 'hypothesis' and 'label'")


def _hub(split: str, revision: str) -> list[dict]:
    try:
        from datasets import load_dataset

        return [r for r in load_dataset("nyu-mll/glue", "mnli", split=split, revision=revision) if r["label"] >= 0]
    except Exception as err:
        raise ConfigError(f"task=mnli: cannot load nyu-mll/glue@{revision} ({split}) from the hub "
                          f"({type(err).__name__}); pass a local file with task.path=...") from None
