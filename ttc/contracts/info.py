"""What a strategy may record per candidate (`Candidate.info`, written as-is into the sample line's `info`):
one key set for every strategy, so the analysis reads facts whose names and types are known.

Every key is optional: a strategy writes those it has. The analysis reads `rejected`, `behaviour` and
`public_pass` (a pool's rejection and filter-and-cluster series), `thinking_tokens` (budget forcing's column),
`chain`, `attempt` and `selection` (revision chains read at every length). Plain names and types only.
"""

from __future__ import annotations

from typing import TypedDict

from ttc.contracts.vocab import Resampling, RevisionSelection, Role


class CandidateInfo(TypedDict, total=False):
    """Per-candidate facts, by the strategy that records them."""

    # best-of-N: set aside by rejection sampling; public tests passed and behaviour signature (code tasks)
    rejected: bool
    public_pass: bool
    behaviour: str
    # budget forcing: thinking tokens spent, "Wait" insertions, whether the thinking was cut at its maximum
    thinking_tokens: int
    waits: int
    cut: bool
    # revision: the chain, the attempt within it, and the run's selection rule (chains are read at every length)
    chain: int
    attempt: int
    selection: RevisionSelection
    # step and tree searches: the subtree (DVTS), steps taken, the path's aggregated step score, resampling
    tree: int
    steps: int
    step_score: float
    resampling: Resampling
    # DeepConf: the trace's confidence, where the online rule stopped it (None: it ran on), whether it voted
    confidence: float
    stopped_at: int | None
    votes: bool
    # CoT decoding: the branch's first token and its log-probability, the answer's confidence margin
    first_token: str
    first_logprob: float
    margin: float
    # adaptive consistency: the round that drew it; MCTS: the simulation that completed it
    round: int
    simulation: int
    # adaptive: the probe's difficulty bin, the arm run for it, and what this candidate was drawn for
    bin: int
    arm: str
    role: Role
