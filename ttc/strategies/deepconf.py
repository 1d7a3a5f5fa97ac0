"""DeepConf (Fu et al. 2025, "Deep think with confidence"): vote with the traces the model was sure of.

Token confidence C_i = -(1/k) sum_j log P_i(j) over the k most likely tokens at position i (the generator
reports it with `confidence_k`; a peaked distribution gives a high C). A trace's group confidence is the mean
C over a sliding `window` of tokens; its confidence is the lowest group confidence ("lowest") or the mean over
its last `window` tokens ("tail").
- mode="offline": n traces; the `keep` share most confident are kept and vote, weighted by confidence.
- mode="online" (measure=lowest): the first `warmup` traces set the threshold s = the (1 - keep) quantile
  of their confidences; every later trace stops at the end of the first full window whose group confidence
  falls below s (before its own end) and is dropped; the warm-up traces above s and the later traces that finished vote, weighted by confidence.
  Emulated on a batched engine: all n traces are generated in one call and each later trace is cut where
  the online rule would have stopped it; the method's ledger counts its tokens up to the cut, and the tokens
  past it (computed here, not by a streaming engine) are booked as implementation waste (`pruned_flops`),
  never as the method's cost. The record keeps every trace, with where it stopped.
Traces with no answer do not vote. Every trace is a candidate; the budget is n.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Candidate, Completion, Problem, ProblemResult, SamplingParams, ledger_of
from ttc.contracts.info import CandidateInfo
from ttc.contracts.rules import sample_seed, vote
from ttc.contracts.vocab import CONFIDENCE_MEASURES, CONFIDENCE_MODES
from ttc.strategies.common import budget_of



def group_confidence(conf: Sequence[float], window: int) -> np.ndarray:
    """Mean token confidence over each sliding window (the whole trace when shorter than `window`)."""
    c = np.asarray(conf, dtype=float)
    if len(c) <= window:
        return np.array([c.mean()]) if len(c) else np.array([0.0])
    sums = np.convolve(c, np.ones(window), mode="valid")
    return sums / window


def trace_confidence(conf: Sequence[float], window: int, measure: str) -> float:
    """A trace's confidence: its lowest group confidence, or the mean over its last `window` tokens."""
    if measure == "tail":
        tail = np.asarray(conf[-window:], dtype=float)
        return float(tail.mean()) if len(tail) else 0.0
    return float(group_confidence(conf, window).min())


def stop_point(conf: Sequence[float], window: int, threshold: float) -> int | None:
    """Tokens generated when the online rule stops the trace (the end of the first window below the
    threshold), or None if it never does."""
    if len(conf) < window:  # an online engine checks only once a window is full
        return None
    below = np.nonzero(group_confidence(conf, window) < threshold)[0]
    at = int(below[0]) + window if len(below) else None
    return at if at is not None and at < len(conf) else None  # stopping at its own end saves nothing


class DeepConf:
    """Confidence-filtered, confidence-weighted voting, offline or online; see the module docstring."""

    def __init__(self, n: int = 16, mode: str = "offline", keep: float = 0.9, warmup: int = 4, window: int = 16,
                 measure: str = "lowest", confidence_k: int = 5, temperature: float = 0.8, top_k: int = 0,
                 top_p: float = 1.0, min_p: float = 0.0, max_tokens: int = 160, stop: Sequence[str] = (),
                 name: str | None = None) -> None:
        if mode not in CONFIDENCE_MODES:
            raise bad_choice("strategy.mode", mode, CONFIDENCE_MODES)
        if measure not in CONFIDENCE_MEASURES:
            raise bad_choice("strategy.measure", measure, CONFIDENCE_MEASURES)
        if mode == "online" and measure == "tail":
            raise ConfigError("strategy.measure=tail cannot stop traces online (it is known only at a trace's end); "
                              "use measure=lowest with mode=online")
        self.budget = budget_of(n, "n", "samples")
        if not 0 < keep <= 1 or window < 1 or not 1 <= warmup <= n or confidence_k < 1:
            raise ConfigError(f"strategy.keep={keep} must be in (0, 1], strategy.window={window} >= 1, "
                              f"strategy.warmup={warmup} in 1..n and strategy.confidence_k={confidence_k} >= 1")
        try:
            self.params = SamplingParams(temperature, top_k, top_p, min_p, 0.0, max_tokens, tuple(stop),
                                         confidence_k=int(confidence_k))
        except ValueError as err:
            raise ConfigError(f"strategy.{str(err).removeprefix('sampling.')}") from None
        self.n, self.mode, self.keep, self.warmup = int(n), mode, float(keep), int(warmup)
        self.window, self.measure = int(window), measure
        self.name = name or f"deepconf_{mode}"

    def reads_verifier(self) -> bool:
        """VerifierUse (ttc.contracts.protocols): traces are weighed by their own token confidence; no verifier is built for it."""
        return False

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every trace, the voted answer and the ledger."""
        seeds = [[sample_seed(seed, p.id, i) for i in range(self.n)] for p in problems]
        pools = generator.generate([p.prompt for p in problems], self.params, seeds)
        if any(c.generated_tokens and not c.token_confidence for pool in pools for c in pool):
            raise ConfigError(f"strategy={self.name} needs token confidence (top-k log-probabilities) from the "
                              f"generator; the HF generator reports it (generator=tiny, smollm2_135m)")
        return [self._one(p, list(pool), extract, seed) for p, pool in zip(problems, pools)]

    def _one(self, problem: Problem, pool: list[Completion], extract: Extractor, seed: int) -> ProblemResult:
        conf = [trace_confidence(c.token_confidence, self.window, self.measure) for c in pool]
        answers = [extract(c.text) for c in pool]
        info: list[CandidateInfo] = [{"confidence": round(x, 6)} for x in conf]
        if self.mode == "offline":
            cut = float(np.quantile(conf, 1 - self.keep)) if self.keep < 1 else -np.inf
            votes = [x >= cut for x in conf]
            spent = pool
        else:
            cut = float(np.quantile(conf[: self.warmup], 1 - self.keep)) if self.keep < 1 else -np.inf
            votes, spent = [x >= cut for x in conf[: self.warmup]], pool[: self.warmup]
            for c, i in zip(pool[self.warmup:], range(self.warmup, self.n)):
                at = stop_point(c.token_confidence, self.window, cut)
                votes.append(at is None)
                info[i]["stopped_at"] = at
                spent.append(c if at is None else _cut(c, at))
        for d, v in zip(info, votes):
            d["votes"] = bool(v)
        winner = vote([a if v else None for a, v in zip(answers, votes)], conf, seed, problem.id)
        chosen = max(range(self.n), key=lambda i: (answers[i] == winner and votes[i], conf[i], -i))
        cands = tuple(Candidate(c, a, None, d) for c, a, d in zip(spent, answers, info))
        return ProblemResult(problem.id, cands, chosen, ledger_of(spent), self.budget)


def _cut(c: Completion, at: int) -> Completion:
    """The trace as the online rule spent it: `at` tokens; the rest of its FLOPs booked as waste."""
    share = at / max(c.generated_tokens, 1)
    kept = c.prompt_flops + (c.flops - c.prompt_flops) * share
    return dataclasses.replace(c, generated_tokens=at, flops=kept, pruned_flops=c.pruned_flops + c.flops - kept,
                               finish_reason="confidence")
