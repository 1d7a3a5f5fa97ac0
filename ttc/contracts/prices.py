"""What an API charges: a price table in dollars per million tokens (input, cached input, output), as providers
publish them, and the dollars of one request from its usage. A local model has no price table, and its dollars
stay empty (None) rather than invented. Knows nothing about HTTP: it turns token counts into dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ttc.contracts.errors import ConfigError

FIELDS = ("input", "cached_input", "output")


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens: `input` (uncached prompt), `cached_input` (prompt a provider's cache served)
    and `output` (generated)."""

    input: float
    cached_input: float
    output: float

    def dollars(self, prompt: int, cached: int, generated: int) -> float:
        """One request's charge: its uncached and cached prompt tokens and its generated tokens."""
        return ((prompt - cached) * self.input + cached * self.cached_input + generated * self.output) / 1e6


def price_of(table: Mapping | None, field: str = "generator.price") -> Price | None:
    """The Price of a config's table (None without one); a missing or negative entry is one line naming it.
    `cached_input` defaults to `input` (providers without a cache discount)."""
    if not table:
        return None
    bad = sorted(set(table) - set(FIELDS))
    if bad:
        raise ConfigError(f"{field}.{bad[0]} is not a price field; valid fields: {', '.join(FIELDS)}")
    values = {k: table.get(k) for k in FIELDS}
    if values["cached_input"] is None:
        values["cached_input"] = values["input"]
    for key, value in values.items():
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{field}.{key}={value} must be dollars per million tokens (a number >= 0)")
    return Price(**{k: float(v) for k, v in values.items()})
