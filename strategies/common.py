"""Helpers shared by strategies (free functions, no inheritance)."""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.protocols import Verifier
from ttc.contracts.records import Completion, Problem, Verdict


def verify_pools(verifier: Verifier | None, problems: Sequence[Problem],
                 pools: Sequence[Sequence[Completion]]) -> list[list[Verdict | None]]:
    """One verifier call for every candidate of every problem; None verdicts when there is no verifier."""
    if verifier is None:
        return [[None] * len(pool) for pool in pools]
    return verifier.verify([p.prompt for p in problems], [[c.text for c in pool] for pool in pools])
