"""Progress inside a batch: the run loop hands strategies its generator wrapped in `CallProgress`, which
advances the progress bar after every generator call (a search round, a revision step, a sampling call).

A batch's share of the bar moves by calls made over the calls the previous batches needed on average (the
first batch has no such estimate and moves at its end), never past 95% of the batch before it is done, so the
bar's rate, and with it tqdm's ETA, follows the work actually done. The wrapper forwards everything else to
the generator, so the capability Protocols (`isinstance(g, BeamSearcher)`, ...) answer as for the generator.
"""

from __future__ import annotations

from typing import Any, Sequence

from ttc.contracts.records import Completion, SamplingParams


class CallProgress:
    """A generator that ticks `bar` (a tqdm bar, or anything with `n` and `refresh`) after each call."""

    def __init__(self, generator: Any, bar: Any) -> None:
        self._inner, self._bar = generator, bar
        self._calls, self._batches, self._calls_total = 0, 0, 0
        self._base, self._size = 0.0, 0
        for name in dir(generator):  # instance attributes, so that Protocol checks see them on any Python
            if not name.startswith("_") and name not in ("generate", "begin", "end"):
                setattr(self, name, getattr(generator, name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def begin(self, done: int, size: int) -> None:
        """A batch of `size` problems starts with `done` problems finished."""
        self._calls, self._base, self._size = 0, float(done), size

    def end(self, done: int) -> None:
        """The batch ended with `done` problems finished; its calls join the per-batch estimate."""
        self._batches += 1
        self._calls_total += self._calls
        self._set(float(done))

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
        """Generator.generate, then a tick."""
        out = self._inner.generate(prompts, params, seeds)
        self._calls += 1
        if self._batches:
            expected = self._calls_total / self._batches
            self._set(self._base + self._size * min(self._calls / max(expected, 1.0), 0.95))
        return out

    def _set(self, n: float) -> None:
        if n > self._bar.n:
            self._bar.n = n
            self._bar.refresh()
