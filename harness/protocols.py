"""The contracts between plug-ins: one small Protocol per kind. Imports nothing of ours but records.

- Task: loads problems, extracts answers from text, grades them. The only holder of references.
- Generator: turns prompts into completions (n per prompt, one seed each) and scores continuations.
- Verifier: scores solutions given only the prompt and the solution text; never sees a reference.
- Strategy: spends a budget on a batch of problems and returns every candidate with a ledger; touches
  no files, no W&B, no config.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

from harness.records import Budget, Completion, Problem, ProblemResult, SamplingParams, Scored, Verdict

Extractor = Callable[[str], "str | None"]


@runtime_checkable
class Task(Protocol):
    name: str
    version: str
    grader_version: str

    def problems(self) -> list[Problem]:
        """The problems of this task in a fixed order (after any slicing the config asks for)."""

    def extract(self, text: str) -> str | None:
        """The final answer in a completion's text, or None when there is none."""

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Whether an extracted answer is right for the problem."""


@runtime_checkable
class Generator(Protocol):
    name: str

    def generate(
        self, prompts: Sequence[str], params: SamplingParams, seeds: Sequence[Sequence[int]]
    ) -> list[list[Completion]]:
        """len(seeds[i]) completions of prompts[i]; the same (prompt, seed, params) gives the same text."""

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """log p(continuation | prompt) for each pair, with per-token log-probabilities."""


@runtime_checkable
class Verifier(Protocol):
    name: str

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """A verdict per solution; solutions[i] are candidate solutions to prompts[i]."""


@runtime_checkable
class Strategy(Protocol):
    name: str
    budget: Budget

    def run(
        self,
        problems: Sequence[Problem],
        generator: Generator,
        verifier: Verifier | None,
        extract: Extractor,
        seed: int,
    ) -> list[ProblemResult]:
        """Every candidate per problem, the selected one and a ledger of what was spent."""
