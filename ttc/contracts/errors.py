"""The one exception users see as a single line: a bad value, where it came from, and the valid choices."""

from __future__ import annotations

from typing import Iterable


class ConfigError(ValueError):
    """A user-fixable problem with the configuration or the inputs; printed as one line, nothing run."""


class UpstreamError(ConfigError):
    """An upstream server (generator=openai) failed or refused a request after its retries; the message carries
    its status and its own words (`ttc serve` passes it on as 502)."""


def bad_choice(field: str, value: object, choices: Iterable[str]) -> ConfigError:
    """The ConfigError for a value outside a known set of choices."""
    return ConfigError(f"{field}={value!s} is not valid; choose one of: {', '.join(sorted(choices))}")
