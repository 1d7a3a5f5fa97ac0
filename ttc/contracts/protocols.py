"""The contracts between plug-ins: one small Protocol per kind, and one per optional capability.

- Task: loads problems, extracts answers from text, grades them. The only holder of references.
- Generator: turns prompts into completions (n per prompt, one seed each) and scores continuations.
- Verifier: scores solutions given only the prompt and the solution text; never sees a reference.
- Strategy: spends a budget on a batch of problems and returns every candidate with a ledger; touches
  no files, no W&B, no config.

Capabilities only some components have are Protocols of their own, checked with `isinstance` where they are
used: `BatchGrader` (a task that grades many answers in one parallel call), `BeamSearcher` (a generator with
a native token-level beam search), `Carded` (a component that knows its model card, for FLOPs).
Imports nothing of ours but the other contracts.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Protocol, Sequence, runtime_checkable

from ttc.contracts.cards import ModelCard
from ttc.contracts.records import Budget, Completion, Problem, ProblemResult, SamplingParams, Scored, Verdict

Extractor = Callable[[str], "str | None"]


@runtime_checkable
class Task(Protocol):
    """Loads problems, extracts answers from text and grades them; the only holder of references."""

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
    """Turns prompts into seeded completions and scores continuations, counting every token and FLOP."""

    name: str

    def generate(
        self, prompts: Sequence[str], params: SamplingParams, seeds: Sequence[Sequence[int]]
    ) -> list[list[Completion]]:
        """len(seeds[i]) completions of prompts[i]; the same (prompt, seed, params) gives the same text."""

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """log p(continuation | prompt) for each pair, with per-token log-probabilities."""


@runtime_checkable
class Verifier(Protocol):
    """Scores solutions from the prompt and the solution text only."""

    name: str

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """A verdict per solution; solutions[i] are candidate solutions to prompts[i]."""


@runtime_checkable
class Strategy(Protocol):
    """Spends a budget on a batch of problems; returns every candidate, the selected one and a ledger."""

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


@runtime_checkable
class BatchGrader(Protocol):
    """A task that grades many answers in one call (code tasks run their hidden tests in parallel sandboxes)."""

    def grade_many(self, answers: Sequence[str | None], problems: Sequence[Problem]) -> list[bool]:
        """grade(answers[i], problems[i]) for every i, in one call."""


@runtime_checkable
class BeamSearcher(Protocol):
    """A generator with a native token-level beam search (HF's batched beams)."""

    def beam_search(self, prompts: Sequence[str], width: int, max_tokens: int,
                    length_penalty: float) -> list[list[Completion]]:
        """The `width` finished beams of each prompt, best first, with their costs."""


@runtime_checkable
class Carded(Protocol):
    """A component that knows the card of the model it runs (parameters, layers, context, training tokens)."""

    card: ModelCard


@runtime_checkable
class Encoding(Protocol):
    """A generator that can tokenize text as its model reads it (to check prompts fit before any work)."""

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text (with the tokenizer's special tokens when `special`)."""


@runtime_checkable
class TopTokens(Protocol):
    """A generator that can list the k most likely first tokens of each prompt (for CoT decoding)."""

    def top_tokens(self, prompts: Sequence[str], k: int) -> tuple[list[list[tuple[str, float]]], list[tuple[int, float]]]:
        """Per prompt its k most likely next tokens as (text, log-probability), best first; and per prompt
        the (tokens read, FLOPs) of the forward that found them."""


@runtime_checkable
class AnswerMargins(Protocol):
    """A generator that can read how sure it was of an answer span: the mean p(top1) - p(top2) over it."""

    def answer_margins(self, prompts: Sequence[str], texts: Sequence[str],
                       spans: Sequence[tuple[int, int]]) -> list[tuple[float, int, float]]:
        """For each prompt + text, the mean over the tokens overlapping the character span (of `text`) of
        p(top1) - p(top2) where each was predicted, with the (tokens read, FLOPs) of that forward."""


@runtime_checkable
class ChatTurns(Protocol):
    """A generator whose model has a chat template: it can close the assistant's turn and open another."""

    def follow_up(self, text: str) -> str:
        """The markup that ends the current assistant turn, adds a user turn saying `text` and opens the
        assistant's reply, in the model's own chat template (appended to a prompt + its answer)."""


@runtime_checkable
class VerifierNeed(Protocol):
    """A strategy that cannot run without a verifier in some settings: the run loop asks before any work."""

    def verifier_need(self) -> str | None:
        """Why this strategy, as configured, needs a verifier (one line naming the fix), or None."""


@runtime_checkable
class VerifierUse(Protocol):
    """A strategy that says whether, as configured, anything it does reads a verifier; the run loop builds one
    (loads its model, pays for its scores, names it in the record) only then. Without this capability a strategy
    is given the configured verifier."""

    def reads_verifier(self) -> bool:
        """Whether this strategy, as configured, calls the verifier."""


@runtime_checkable
class SelectionRule(Protocol):
    """A strategy whose selection rule depends on whether the run has a verifier (best-of-N's default `verifier`
    is majority vote without one): the run loop records, and announces, the rule applied."""

    def applied_rule(self, verified: bool) -> str:
        """The selection rule applied in a run with (`verified`) or without a verifier."""


@runtime_checkable
class Reachable(Protocol):
    """A generator behind a server: the run loop asks it to check the server answers before any work."""

    def check(self) -> None:
        """Raise a one-line ConfigError when the server cannot be reached or does not serve the model."""


@runtime_checkable
class ChoiceScorer(Protocol):
    """A strategy that scores the choices a problem lists (`metadata["choices"]`) instead of generating."""

    def scores_choices(self) -> bool:
        """True: it needs problems that list choices, and a task whose problems list them needs it."""


@runtime_checkable
class BranchScorer(Protocol):
    """A generator that scores several continuations of one prompt from a single read of the prompt."""

    def score_branches(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[Scored]]:
        """For each prompt, log p(option | prompt) of every option; the prompt's tokens and FLOPs are counted
        once, on the first option's Scored, and each option's own on its own."""


@runtime_checkable
class Behaviours(Protocol):
    """A verifier that can run programs on inputs it generates from the prompt alone: one signature per solution
    (equal signatures: the same outputs on every generated input), for AlphaCode-style clustering."""

    def behaviours(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[str]]: ...


@runtime_checkable
class PrefixCaching(Protocol):
    """A generator (or a verifier through its judge) that can keep what it read for the next calls, inside a block:
    `with part.prefix_caching(): ...` (a step search's rounds then read only their new tokens)."""

    def prefix_caching(self) -> "contextlib.AbstractContextManager[None]": ...


@runtime_checkable
class Ticking(Protocol):
    """A generator that reports work inside a call: after `listen(fn)` it calls `fn(tokens, share)` as it
    decodes, with the tokens generated since its last report and the share (0..1) of the current call done
    (finished sequences count whole, live ones by tokens over their limit); `listen(None)` stops it."""

    def listen(self, fn: "Callable[[int, float], None] | None") -> None: ...
