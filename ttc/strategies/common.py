"""Helpers shared by strategies (free functions, no inheritance)."""

from __future__ import annotations

import contextlib
import functools
from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import PrefixCaching, Verifier
from ttc.contracts.records import Budget, Completion, Problem, Verdict


def budget_of(value, field: str, unit: str, message: str = "strategy.{field}={value}: {err}") -> Budget:
    """A constructor's budget: Budget(int(value), unit), or the ConfigError that names the setting, `message`
    with {field}, {value} (as given) and {err} (what is wrong with it) filled in."""
    try:
        return Budget(int(value), unit)
    except ValueError as err:
        raise ConfigError(message.format(field=field, value=value, err=err)) from None


def needs_verifier(setting: str, instead: str) -> str:
    """VerifierNeed's reason when `setting` needs a verifier: set one, or use selection=`instead`."""
    return f"{setting} needs a verifier; set verifier=... or use selection={instead}"


def require_verifier(strategy, verifier: Verifier | None) -> None:
    """Refuse a run without a verifier when the strategy needs one (VerifierNeed: its verifier_need() says why)."""
    if verifier is None and (need := strategy.verifier_need()):
        raise ConfigError(need)


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


def guided_search(run):
    """Decorate a verifier-guided search's run(problems, generator, verifier, ...): it runs inside
    prefix_caching(generator, verifier) and is refused without a verifier (require_verifier)."""
    @functools.wraps(run)
    def wrapped(self, problems, generator, verifier, *args, **kwargs):
        with prefix_caching(generator, verifier):
            require_verifier(self, verifier)
            return run(self, problems, generator, verifier, *args, **kwargs)
    return wrapped
