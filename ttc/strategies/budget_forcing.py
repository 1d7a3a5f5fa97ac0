"""Budget forcing (s1, Muennighoff et al. 2025): control how long a model thinks inside its delimiters.

- Minimum thinking budget: when the model tries to close its thinking block before `min_thinking` tokens,
  the end-of-thinking delimiter is suppressed (generation stops on it and it is not kept) and a "Wait"
  string is appended instead (`wait` may be a list, used in rotation), at most `max_waits` times.
- Maximum thinking budget: when the thinking reaches `max_thinking` tokens, it is cut there and the
  end-of-thinking delimiter and the answer cue are appended; the model then writes its answer.

Only `generate` with stop strings and max tokens is used, so any backend (HF here, vLLM, a server)
runs it unchanged. Every continuation re-reads its prefix: the ledger counts those prompt tokens (and
the cached share where the backend has a prefix cache). Thinking tokens are the generated tokens inside
the block; forced strings are inserted text, not generated, and are counted as prompt when re-read.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import (Candidate, Completion, Problem, ProblemResult, SamplingParams, Verdict, joined,
                                   ledger_of)
from ttc.contracts.trees import Fate, chain_tree
from ttc.strategies.common import budget_of, verify_pools
from ttc.contracts.rules import sample_seed, select


@dataclasses.dataclass
class _Trace:
    """One thinking trace being forced: its text so far, the calls it took, its counters."""

    prompt: str
    seed: int
    text: str = ""
    parts: list[Completion] = dataclasses.field(default_factory=list)
    thinking: int = 0
    waits: int = 0
    phase: str = "think"  # think -> answer -> done
    cut: bool = False
    marks: list[tuple[int, str | None]] = dataclasses.field(default_factory=list)  # (end of a segment, forced)


class BudgetForcing:
    """s1-style budget forcing on `n` samples per problem (greedy when n=1 and temperature=0)."""

    def __init__(self, max_thinking: int = 128, min_thinking: int = 0, max_waits: int = 2,
                 wait: str | Sequence[str] = "Wait", think_close: str = "</think>", answer_cue: str = "\nAnswer:",
                 answer_tokens: int = 16, n: int = 1, temperature: float = 0.0, selection: str = "majority",
                 name: str | None = None) -> None:
        if min_thinking < 0 or max_waits < 0:
            raise ConfigError(f"strategy.min_thinking={min_thinking} and strategy.max_waits={max_waits} "
                              f"must be at least 0")
        if min_thinking > max_thinking:
            raise ConfigError(f"strategy.min_thinking={min_thinking} exceeds strategy.max_thinking={max_thinking}")
        self.budget = budget_of(max_thinking, "max_thinking", "thinking_tokens", message="strategy.{err}")
        self.n = budget_of(n, "n", "samples", message="strategy.{err}").amount
        try:
            self.params = SamplingParams(temperature=temperature, max_tokens=1, stop=(think_close,))
        except ValueError as err:
            raise ConfigError(f"strategy.{str(err).removeprefix('sampling.')}") from None
        self.min_thinking, self.max_waits = int(min_thinking), int(max_waits)
        self.waits = [wait] if isinstance(wait, str) else list(wait)
        if not self.waits:
            raise ConfigError("strategy.wait is empty; give a string such as 'Wait' or a list of them")
        self.think_close, self.answer_cue, self.answer_tokens = think_close, answer_cue, int(answer_tokens)
        self.selection = selection
        self.name = name or ("budget_forcing" if not self.min_thinking
                             else f"budget_forcing_min{self.min_thinking}_w{self.max_waits}")

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        traces = [[_Trace(p.prompt, sample_seed(seed, p.id, i)) for i in range(self.n)] for p in problems]
        flat = [t for row in traces for t in row]
        while any(t.phase == "think" for t in flat):
            self._think_round(generator, [t for t in flat if t.phase == "think"])
        self._answer_round(generator, [t for t in flat if t.phase == "answer"])
        pools = [[joined(t.parts, t.text, i) for i, t in enumerate(row)] for row in traces]
        verdicts = verify_pools(verifier, problems, pools)
        results = []
        for p, row, pool, vs in zip(problems, traces, pools, verdicts):
            answers = [extract(c.text) for c in pool]
            chosen = select(self.selection if self.n > 1 else "first", answers,
                            [v.score if v else 0.0 for v in vs], [c.logprob for c in pool],
                            [c.generated_tokens for c in pool], seed, p.id)
            cands = tuple(Candidate(c, a, v, {"thinking_tokens": t.thinking, "waits": t.waits, "cut": t.cut})
                          for c, a, v, t in zip(pool, answers, vs, row))
            ledger = ledger_of(pool, [v for v in vs if v])
            results.append(ProblemResult(p.id, cands, chosen, ledger, self.budget,
                                         tree=chain_tree([segments(t, k, v) for k, (t, v) in enumerate(zip(row, vs))])))
        return results

    def _think_round(self, generator: Generator, live: list[_Trace]) -> None:
        """One continuation of every live trace, grouped by remaining budget (one call per group)."""
        groups: dict[int, list[_Trace]] = {}
        for t in live:
            groups.setdefault(self.budget.amount - t.thinking, []).append(t)
        for remaining, group in sorted(groups.items()):
            params = dataclasses.replace(self.params, max_tokens=remaining)
            outs = generator.generate([t.prompt + t.text for t in group], params, [[t.seed + t.waits] for t in group])
            for t, [c] in zip(group, outs):
                self._advance(t, c)

    def _advance(self, t: _Trace, c: Completion) -> None:
        t.parts.append(c)
        t.text += c.text
        t.thinking += c.generated_tokens
        closed = c.stop_reason == self.think_close
        if closed and t.thinking < self.min_thinking and t.waits < self.max_waits:
            t.text += self.waits[t.waits % len(self.waits)]
            t.marks.append((len(t.text), self.waits[t.waits % len(self.waits)]))
            t.waits += 1
        elif closed:
            t.text += self.think_close
            t.phase = "answer"
        elif c.finish_reason == "length" or t.thinking >= self.budget.amount:
            t.text += ("" if t.text.endswith("\n") else "\n") + self.think_close
            t.cut, t.phase = True, "answer"
        else:  # end of sequence without closing the block: nothing more to force
            t.phase = "done"

    def _answer_round(self, generator: Generator, ready: list[_Trace]) -> None:
        if not ready:
            return
        params = dataclasses.replace(self.params, max_tokens=self.answer_tokens, stop=())
        for t in ready:
            t.text += self.answer_cue
        outs = generator.generate([t.prompt + t.text for t in ready], params, [[t.seed + 1000] for t in ready])
        for t, [c] in zip(ready, outs):
            t.parts.append(c)
            t.text += c.text
            t.phase = "done"


def segments(t: _Trace, k: int, verdict: Verdict | None) -> list[tuple[str, float | None, Fate, dict]]:
    """Trace `t` (candidate k) as chain entries: a segment ending at each forced continuation (`forced`: what
    was inserted), then the rest to the answer, the candidate, scored by its verdict."""
    out, start = [], 0
    for end, forced in t.marks:
        out.append((t.text[start:end], None, "kept", {"forced": forced}))
        start = end
    return out + [(t.text[start:], None if verdict is None else verdict.score, "completed", {"candidates": [k]})]
