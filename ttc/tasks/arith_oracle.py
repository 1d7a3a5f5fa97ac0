"""A noisy-oracle step verifier for the tiny arithmetic world: an ORACLE, never a default.

The world can check every step exactly (`first_wrong_step`), and everything needed is in the prompt: the
question names the start and every event, so the oracle reads the prompt and the solution only (never the
grader's reference). Each step gets a label (right: its arithmetic is its own, it continues from the previous
result and applies an event not yet applied; every step from the first wrong one on is wrong), and a noisy
score sigmoid((label - 1/2) * d + e) with e ~ N(0, 1) drawn from a hash of (seed, prompt, the solution up to
that step): the same prefix always gets the same score. For two equal-variance Gaussians the AUROC of the
scores is Phi(d / sqrt 2), so d = sqrt(2) * Phi^-1(quality) sets the step-level AUROC to `quality` (0.5: no
information; 0.95: a strong PRM). A finished solution's answer line is one more step, right when every event
was applied and the answer is the last result. The score of a solution is its last step's; the oracle reads
no tokens and costs no FLOPs (it is a measuring instrument: how much a search gains as verifiers improve).
"""

from __future__ import annotations

import hashlib
import math
import re
from statistics import NormalDist
from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Verdict
from ttc.tasks.arith import ADD_VERBS, STEP_DELIM, ArithProblem, extract_answer, first_wrong_step, parse_steps

_START = re.compile(r"^Q: \w+ has (\d+) \w+\.")
_EVENT = re.compile(r"^\w+ (.+?) (\d+)(?: more)?\.$")
_ADDS = {v.split(" {n}")[0] for v in ADD_VERBS}


def parse_prompt(prompt: str) -> ArithProblem:
    """The problem a tiny-world prompt states (start and events), read from its question text alone."""
    first = prompt.split("\n", 1)[0]
    m = _START.match(first)
    if not m:
        raise ConfigError("verifier=noisy_oracle reads tiny-world prompts only (task=arith); this prompt is not one")
    sentences = re.findall(r"[^.?]+[.?]", first[3:])
    events = []
    for s in sentences[1:-1]:
        e = _EVENT.match(s.strip())
        if e is None:
            raise ConfigError(f"verifier=noisy_oracle: cannot read the event {s.strip()!r}")
        events.append(("+" if e.group(1) in _ADDS else "-", int(e.group(2))))
    return ArithProblem("oracle", 0, first[3:], int(m.group(1)), tuple(events))


def step_labels(problem: ArithProblem, solution: str) -> list[bool]:
    """Right/wrong per step of `solution` (and its answer line, when it has one)."""
    steps = parse_steps(solution)
    wrong = first_wrong_step(problem, solution)
    labels = [wrong is None or k < wrong for k in range(1, len(steps) + 1)]
    answer = extract_answer(solution)
    if answer is not None:  # right when every step is right, every event applied, and it states the result
        value = steps[-1].result if steps else problem.start
        labels.append(wrong is None and answer == str(value))
    return labels


class NoisyStepOracle:
    """Step scores of a chosen AUROC from the tiny world's exact step checks; see the module docstring."""

    def __init__(self, quality: float = 0.8, seed: int = 0, name: str | None = None) -> None:
        if not 0.5 <= quality < 1.0:
            raise ConfigError(f"verifier.quality={quality} must be in [0.5, 1): the target step-level AUROC")
        self.quality, self.seed = float(quality), int(seed)
        self.gap = math.sqrt(2) * NormalDist().inv_cdf(self.quality)
        self.name = name or f"oracle-auroc{self.quality:g}"

    def _noise(self, prompt: str, prefix: str) -> float:
        digest = hashlib.sha256(f"{self.seed}\0{prompt}\0{prefix}".encode()).digest()
        u = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
        return NormalDist().inv_cdf(u)

    def score_steps(self, prompt: str, solution: str) -> tuple[float, ...]:
        """One noisy score per step (and the answer line) of `solution`."""
        labels = step_labels(parse_prompt(prompt), solution)
        lines = solution.split(STEP_DELIM)
        out = []
        for k, right in enumerate(labels):
            prefix = STEP_DELIM.join(lines[: k + 1])
            x = (0.5 if right else -0.5) * self.gap + self._noise(prompt, prefix)
            out.append(1.0 / (1.0 + math.exp(-x)))
        return tuple(out)

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """Verifier.verify (ttc.contracts.protocols): the last step's score; no tokens read, no FLOPs."""
        out = []
        for prompt, sols in zip(prompts, solutions):
            row = []
            for s in sols:
                steps = self.score_steps(prompt, s)
                row.append(Verdict(steps[-1] if steps else 0.5, tokens=0, flops=0.0, step_scores=steps or None))
            out.append(row)
        return out

