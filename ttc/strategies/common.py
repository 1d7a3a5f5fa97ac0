"""Helpers shared by strategies (free functions, no inheritance)."""

from __future__ import annotations

import contextlib
import functools
from typing import Sequence

from ttc.contracts.protocols import PrefixCaching, Verifier
from ttc.contracts.records import Completion, Problem, Verdict


def verify_pools(verifier: Verifier | None, problems: Sequence[Problem],
                 pools: Sequence[Sequence[Completion]]) -> list[list[Verdict | None]]:
    """One verifier call for every candidate of every problem; None verdicts when there is no verifier."""
    if verifier is None:
        return [[None] * len(pool) for pool in pools]
    return verifier.verify([p.prompt for p in problems], [[c.text for c in pool] for pool in pools])


def prefix_caching(*parts) -> contextlib.ExitStack:
    """Enter `prefix_caching()` of every part that has it (PrefixCaching: an HF generator, a verifier whose judge
    is one), so a multi-round search reuses what its previous rounds read; left when the strategy's run ends."""
    stack = contextlib.ExitStack()
    for part in parts:
        if isinstance(part, PrefixCaching):
            stack.enter_context(part.prefix_caching())
    return stack


def reusing_prefixes(run):
    """Decorate a strategy's run(problems, generator, verifier, ...) to run inside prefix_caching(generator, verifier)."""
    @functools.wraps(run)
    def wrapped(self, problems, generator, verifier, *args, **kwargs):
        with prefix_caching(generator, verifier):
            return run(self, problems, generator, verifier, *args, **kwargs)
    return wrapped
