"""Frozen records that cross plug-in boundaries: problems, completions, verdicts, ledgers, results.

Plain data only; knows nothing about models, configs or files.
"""

from __future__ import annotations

from dataclasses import Field, astuple, dataclass, field, fields
from typing import Iterable, Literal, Sequence

from ttc.contracts.info import CandidateInfo
from ttc.contracts.vocab import CURVES, SYNTAXES, BudgetUnit, CurveKind, FinishReason, Syntax


PUBLIC_METADATA = ("difficulty", "choices", "entry_point", "subject", "line")


@dataclass(frozen=True)
class Problem:
    """One task item. `reference` is for the grader only: strategies and verifiers never receive it, nor any
    metadata outside PUBLIC_METADATA (a code task keeps the canonical solution there for its own checks)."""

    id: str
    prompt: str
    reference: str
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def difficulty(self) -> int | None:
        """The task's difficulty level of this problem, where it has one."""
        return self.metadata.get("difficulty")

    def public(self) -> "Problem":
        """What strategies and verifiers are given: no reference, and only the whitelisted metadata."""
        return Problem(self.id, self.prompt, "", {k: v for k, v in self.metadata.items() if k in PUBLIC_METADATA})


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. temperature 0 is greedy; truncations apply in the order top-k, top-p, min-p, epsilon."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    epsilon: float = 0.0
    max_tokens: int = 128
    stop: tuple[str, ...] = ()
    confidence_k: int = 0  # > 0: also report each token's confidence over the top-k (DeepConf), where supported
    regex: str | None = None  # constrained decoding: the text must match this regular expression in full
    syntax: Syntax | None = None  # end a sample once its program cannot be valid

    def __post_init__(self) -> None:
        checks = {"confidence_k": (self.confidence_k >= 0, ">= 0 (0: off)"),
            "temperature": (self.temperature >= 0, ">= 0"), "top_k": (self.top_k >= 0, ">= 0 (0: off)"),
            "top_p": (0 < self.top_p <= 1, "in (0, 1]"), "min_p": (0 <= self.min_p < 1, "in [0, 1)"),
            "epsilon": (0 <= self.epsilon < 1, "in [0, 1)"), "max_tokens": (self.max_tokens > 0, ">= 1"),
            "syntax": (self.syntax in (None, *SYNTAXES), f"null, {', '.join(SYNTAXES[:-1])} or {SYNTAXES[-1]}"),
            "regex": (self.regex is None or bool(self.regex), "a non-empty regular expression or null"),
        }
        bad = [(name, valid) for name, (ok, valid) in checks.items() if not ok]
        if bad:
            name, valid = bad[0]
            raise ValueError(f"sampling.{name}={getattr(self, name)!r} is out of range (valid: {valid})")


@dataclass(frozen=True)
class Completion:
    """One generated text with what it cost.

    `cached_tokens` are prompt tokens served from a cache (not computed); `flops` is all this completion
    computed, of which `prompt_flops` went to its (uncached) prompt.
    """

    index: int
    seed: int
    text: str
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    logprob: float
    finish_reason: FinishReason
    flops: float
    prompt_flops: float = 0.0
    token_logprobs: tuple[float, ...] = field(default=(), repr=False)
    stop_reason: str | None = None  # the stop string that ended it (None: end of sequence or length)
    # per generated token, -mean log p of the top-k tokens (DeepConf's token confidence; k = confidence_k)
    token_confidence: tuple[float, ...] = field(default=(), repr=False)
    # what the implementation computed beyond the method's cost, not in `flops`: positions of a batch's
    # padding, and decode steps of rows that had finished but were not yet pruned from the batch
    padding_flops: float = 0.0
    pruned_flops: float = 0.0
    # speculative decoding (ttc.generators.speculative): tokens the draft proposed and the target accepted, the
    # draft's share of `flops`, and the target's forwards (its prefill and one verification per round)
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    draft_flops: float = 0.0
    target_forwards: int = 0
    # bytes of the KV cache its decode steps read (ttc.contracts.cards.generation_kv_bytes; 0 where unknown)
    kv_bytes: float = 0.0
    # its share of the weights its forwards read: 1/rows of each (ttc.contracts.cards.forward_weight_bytes; 0 where
    # the engine batches out of sight)
    weight_bytes: float = 0.0
    # what a priced API charged for it (ttc.contracts.prices); None where the generator has no price table
    dollars: float | None = None


@dataclass(frozen=True)
class Scored:
    """Log-probability of a continuation given a prompt, from a scoring call."""

    logprob: float
    tokens: int  # tokens read (computed) for it
    flops: float
    token_logprobs: tuple[float, ...] = field(default=(), repr=False)
    cached_tokens: int = 0  # tokens whose KV was reused from an earlier call instead (not in tokens or flops)


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one solution: a score (higher is better), optional per-step scores, cost."""

    score: float
    tokens: int
    flops: float
    step_scores: tuple[float, ...] | None = None
    cached_tokens: int = 0  # the judge's tokens reused from an earlier call (not in tokens or flops)


CEILINGS: dict[BudgetUnit, int] = {"samples": 1 << 16, "beams": 1 << 10, "thinking_tokens": 1 << 20, "simulations": 1 << 12,
            "branches": 1 << 10}  # per problem


@dataclass(frozen=True)
class Budget:
    """A budget with its unit: "samples", "beams", "thinking_tokens"...

    Budgets above the unit's documented ceiling (CEILINGS: 65,536 samples, 1,024 beams, 2^20 thinking
    tokens per problem) are refused before any work: no run here needs more, and a typo such as n=1e9 would
    otherwise grow memory until the machine gives out."""

    amount: int
    unit: BudgetUnit = "samples"

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise ValueError(f"budget {self.amount} {self.unit} is impossible: it must be at least 1")
        ceiling = CEILINGS.get(self.unit)
        if ceiling is not None and self.amount > ceiling:
            raise ValueError(f"budget {self.amount} {self.unit} per problem is above the ceiling of {ceiling}")


@dataclass(frozen=True)
class Ledger:
    """What one problem actually cost, summed over every call made for it."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    verifier_tokens: int = 0
    generator_flops: float = 0.0
    verifier_flops: float = 0.0
    wall_s: float = 0.0
    padding_flops: float = 0.0  # implementation waste beside generator_flops (see Completion)
    pruned_flops: float = 0.0
    draft_flops: float = 0.0  # the part of generator_flops a speculative draft model computed
    drafted_tokens: int = 0  # tokens a draft model proposed, and how many the target accepted
    accepted_tokens: int = 0
    verifier_cached_tokens: int = 0  # verifier tokens reused from an earlier call's KV (not in verifier_tokens)
    kv_bytes: float = 0.0  # KV cache bytes the generator's decode steps read (memory traffic, not in the FLOPs)
    weight_bytes: float = 0.0  # the candidates' shares of the weights their forwards read (see Completion)
    dollars: float = 0.0  # what a priced API charged (0 where unpriced: the sample lines say which)

    @property
    def flops(self) -> float:
        """Generator and verifier FLOPs together."""
        return self.generator_flops + self.verifier_flops

    def __add__(self, other: "Ledger") -> "Ledger":
        return Ledger(*(a + b for a, b in zip(astuple(self), astuple(other))))


# How `joined` combines a field of its parts, for every field of Completion that is not a number (numbers are
# costs and add up). A new field that is neither makes `joined` raise, so it cannot be dropped unnoticed.
Join = Literal["given", "first", "last", "concat", "sum", "priced"]
_JOIN_RULES: dict[str, Join] = {"index": "given", "text": "given", "seed": "first", "finish_reason": "last", "stop_reason": "last",
               "token_logprobs": "concat", "token_confidence": "concat", "dollars": "priced"}
_COMBINE = {"sum": sum, "first": lambda xs: xs[0], "last": lambda xs: xs[-1],
            "concat": lambda xs: tuple(x for t in xs for x in t),
            "priced": lambda xs: None if any(x is None for x in xs) else sum(xs)}  # unpriced if any part is


def _join_rule(f: Field) -> Join:
    """How `joined` combines field `f`: its rule in _JOIN_RULES, else "sum" for an int or float field."""
    if f.name in _JOIN_RULES:
        return _JOIN_RULES[f.name]
    if f.type in ("int", "float", int, float):
        return "sum"
    raise TypeError(f"Completion.{f.name} ({f.type}) has no rule in records.joined: add it to _JOIN_RULES")


def joined(parts: Sequence[Completion], text: str, index: int = 0) -> Completion:
    """One completion built from several generator calls (a continued or forced generation): every numeric cost
    (tokens, FLOPs, waste, speculation) and the log-probability add up, per-token sequences are concatenated,
    the seed is the first part's and the finish and stop reasons the last part's; `text` is the whole text,
    inserted strings included."""
    given = {"index": index, "text": text}
    values = {}
    for f in fields(Completion):
        rule = _join_rule(f)
        values[f.name] = given[f.name] if rule == "given" else _COMBINE[rule]([getattr(c, f.name) for c in parts])
    return Completion(**values)


def verifier_cost(verdicts: Iterable[Verdict]) -> Ledger:
    """What a verifier spent on `verdicts`: the tokens it read, those a cache served, and its FLOPs. The one
    place a verdict's cost is booked, so no strategy can drop a field of it."""
    verdicts = list(verdicts)
    return Ledger(verifier_tokens=sum(v.tokens for v in verdicts),
                  verifier_cached_tokens=sum(v.cached_tokens for v in verdicts),
                  verifier_flops=sum(v.flops for v in verdicts))


def ledger_of(completions: Sequence[Completion], verdicts: Iterable[Verdict] | None = None) -> Ledger:
    """Sum the generator's and the verifier's costs; computed prompt tokens exclude cached ones."""
    return Ledger(
        prompt_tokens=sum(c.prompt_tokens - c.cached_tokens for c in completions),
        cached_tokens=sum(c.cached_tokens for c in completions),
        generated_tokens=sum(c.generated_tokens for c in completions),
        generator_flops=sum(c.flops for c in completions),
        padding_flops=sum(c.padding_flops for c in completions),
        pruned_flops=sum(c.pruned_flops for c in completions),
        draft_flops=sum(c.draft_flops for c in completions),
        drafted_tokens=sum(c.drafted_tokens for c in completions),
        accepted_tokens=sum(c.accepted_tokens for c in completions),
        kv_bytes=sum(c.kv_bytes for c in completions),
        weight_bytes=sum(c.weight_bytes for c in completions),
        dollars=sum(c.dollars or 0.0 for c in completions),
    ) + verifier_cost(verdicts or ())


@dataclass(frozen=True)
class Candidate:
    """A completion with its verdict (if any verifier ran), its extracted answer, and strategy facts.

    `info` holds per-candidate facts a strategy wants on the record (thinking tokens, "Wait" insertions,
    chain and attempt numbers: the keys of ttc.contracts.info.CandidateInfo); it is written as-is into the
    sample line.
    """

    completion: Completion
    answer: str | None
    verdict: Verdict | None = None
    info: CandidateInfo = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ProblemResult:
    """A strategy's output for one problem: every candidate, the selected index, the ledger, and how its
    candidates become curve points (`curve`, one of CURVES)."""

    problem_id: str
    candidates: tuple[Candidate, ...]
    selected: int
    ledger: Ledger
    budget: Budget
    curve: CurveKind = "fixed"
    tree: tuple[dict, ...] = ()  # a step-level search's every node (ttc.contracts.trees); () for the others

    def __post_init__(self) -> None:
        if self.curve not in CURVES:
            raise ValueError(f"ProblemResult.curve={self.curve!r} is not one of {CURVES}")
