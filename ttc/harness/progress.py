"""Progress of a run, suited to where it goes, and moving inside a batch.

`RunBar` is the display: a live tqdm bar on a terminal; on a file or pipe (CI logs, SLURM `.err`) a plain line
at every further ~10% and at least every 30 s, never a `\\r` redraw. Both show problems done (fractional inside
a batch), tokens generated so far and an ETA from the rate since this process started (resumed problems do
not make it look fast).

`CallProgress` is the run's hook on its generator, not a stand-in for it: the strategy is handed the generator
itself (every capability check answers as for the generator because it is the generator). While the run
`watch`es it, the generator reports to the hook: after every `generate` call (a search round, a revision step,
a sampling call) and, for a generator that reports inside a call (`Ticking`: the HF engine every few decode
steps, through its own `listen`), as sequences finish and tokens come. A batch's share of the bar moves by the
calls made (the current one by its reported share) over the calls the previous batches needed on average (the
first batch, with no such estimate, moves only inside reporting calls, counting the calls so far plus the
current one: exact for one-call strategies, optimistic for a search's first batch), scaled to the share of
earlier batches' time that passed before their generator's last report (what follows it, verifying and
grading, takes the rest: a 200 x 256 best-of-n run with the tiny-4m verifier showed "0:10 left" at 99% and
ran 4 more minutes before this), never past 95% of the batch before it is done, so the bar's rate, and with it
the ETA, follows the work actually done.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterator, Sequence, TextIO

from tqdm import tqdm

from ttc.contracts.protocols import Ticking
from ttc.contracts.records import Completion, SamplingParams

PLAIN_STEP, PLAIN_EVERY_S = 0.10, 30.0  # a plain line at every further 10% of the run, and at least every 30 s


def clock(seconds: float) -> str:
    """H:MM:SS (or M:SS) of a duration."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class RunBar:
    """The run's progress display: `n` problems done of `total` (fractional), `tokens` generated; `refresh()`
    shows them (on a terminal at once, on a file when a plain line is due), `close()` ends the display."""

    def __init__(self, total: int, initial: int, desc: str, disable: bool = False, file: TextIO | None = None,
                 unit: str = "problems") -> None:
        self.file, self.unit = file or sys.stderr, unit
        self.total, self.n, self.tokens, self.desc, self.disable = total, float(initial), 0, desc, disable
        self.t0, self.start = time.monotonic(), float(initial)
        self.live = not disable and self.file.isatty()
        self.told_n, self.told_t = float(initial), self.t0
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="problem", file=self.file, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} " + unit + " [{elapsed}<{remaining}{postfix}]",
                        disable=not self.live)

    def rate(self) -> str:
        """Tokens a second since this process started."""
        return f"{self.tokens / max(time.monotonic() - self.t0, 1e-9):,.0f} tokens/s"

    def eta(self) -> str:
        """Time left at the rate of this process's problems so far ('?' before the first moves)."""
        done = self.n - self.start
        if done <= 0:
            return "?"
        return clock((time.monotonic() - self.t0) / done * (self.total - self.n))

    def refresh(self) -> None:
        """Show the current state (a plain line only at a further ~10% or after 30 s)."""
        if self.live:
            self.bar.n = self.n
            self.bar.set_postfix_str(f"{self.tokens:,} tokens, {self.rate()}", refresh=False)
            self.bar.refresh()
            return
        now = time.monotonic()
        if self.disable or (self.n - self.told_n < PLAIN_STEP * self.total and now - self.told_t < PLAIN_EVERY_S):
            return
        self._line(now)

    def _line(self, now: float) -> None:
        self.told_n, self.told_t = self.n, now
        share = self.n / max(self.total, 1)
        print(f"{self.desc}: {self.n:.1f}/{self.total} {self.unit} ({share:.0%}), {self.tokens:,} tokens, "
              f"{clock(now - self.t0)} elapsed, {self.eta()} left", file=self.file, flush=True)

    def close(self, leave: bool = True) -> None:
        """End the display: a plain one says where the run ended; `leave=False` (an error, Ctrl-C): a live bar is
        erased and a plain one says nothing more, so the error's one line is the last word."""
        if self.live:
            self.bar.leave = leave
            self.bar.n = self.n
            self.bar.close()
        elif leave and not self.disable and self.n != self.told_n:
            self._line(time.monotonic())


class CallProgress:
    """The run's progress hook: moves `bar` (a RunBar, or anything with `n`, `tokens` and `refresh`) after each
    generator call (`called`) and, inside calls, as a Ticking generator reports (`tick`); `begin` and `end`
    frame each batch. `watch(generator)` has the generator report to it for the length of a block."""

    def __init__(self, bar: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._bar, self._clock = bar, clock
        self._calls, self._batches, self._calls_total = 0, 0, 0
        self._base, self._size = 0.0, 0
        self._ticking = False  # tokens come from the generator's reports (Ticking), not from each call's output
        self._began = self._last = 0.0  # when this batch began; when the generator last reported in it
        self._generating = self._whole = 0.0  # earlier batches: seconds up to their last report, and in all

    @contextlib.contextmanager
    def watch(self, generator: Any) -> Iterator[None]:
        """Within the block, `generator` reports to this hook: through its own listener where it is Ticking,
        and at the end of each `generate` call (the instance's `generate` is wrapped for the block, then put
        back; the generator stays the object the strategy is given). A generator whose attributes cannot be set
        moves the bar only at the end of each batch (and inside calls, where Ticking)."""
        self._ticking = isinstance(generator, Ticking)
        wrapped = self._wrap(generator)
        if self._ticking:
            generator.listen(self.tick)
        try:
            yield
        finally:
            if self._ticking:
                generator.listen(None)
            if wrapped:
                del generator.generate  # the class's method again

    def _wrap(self, generator: Any) -> bool:
        """Wrap the instance's `generate` so that each call ends with `called`; False where it cannot be done
        (no instance dict, or an instance `generate` already there)."""
        inner = generator.generate

        def generate(prompts: Sequence[str], params: SamplingParams,
                     seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
            out = inner(prompts, params, seeds)
            self.called(out)
            return out

        own = getattr(generator, "__dict__", None)
        if own is None or "generate" in own:
            return False
        try:
            generator.generate = generate
        except (AttributeError, TypeError):
            return False
        return True

    def begin(self, done: int, size: int) -> None:
        """A batch of `size` problems starts with `done` problems finished."""
        self._calls, self._base, self._size = 0, float(done), size
        self._began = self._last = self._clock()

    def end(self, done: int) -> None:
        """The batch ended with `done` problems finished; its calls join the per-batch estimate, and its time up
        to the generator's last report and in all join the estimate of the share generation takes."""
        self._batches += 1
        self._calls_total += self._calls
        self._generating += self._last - self._began
        self._whole += self._clock() - self._began
        self._set(float(done))

    def called(self, out: Sequence[Sequence[Completion]]) -> None:
        """A generate call returned `out`: one more call of this batch (its tokens counted here unless the
        generator reported them as it went)."""
        self._calls += 1
        self._last = self._clock()
        if not self._ticking:
            self.tick(sum(c.generated_tokens for row in out for c in row), 0.0)
        self._move(0.0)

    def tick(self, tokens: int, share: float) -> None:
        """The Ticking listener: `tokens` more generated, `share` of the current call done."""
        self._bar.tokens += tokens
        self._last = self._clock()
        self._move(share)

    def _move(self, share: float) -> None:
        if self._batches:
            expected = self._calls_total / self._batches
        elif share > 0:  # the first batch, inside a reporting call: the calls so far and this one
            expected = self._calls + 1
        else:  # the first batch between calls: no estimate, tokens only
            self._bar.refresh()
            return
        done = min((self._calls + share) / max(expected, 1.0), 1.0) * self._reach()
        self._set(self._base + self._size * min(done, 0.95))

    def _reach(self) -> float:
        """How far into a batch its generator calls take it: the share of earlier batches' time up to their
        last report (what follows, verifying and grading, is the rest); all of it before a batch has ended."""
        return self._generating / self._whole if self._whole > 0 else 1.0

    def _set(self, n: float) -> None:
        if n > self._bar.n:
            self._bar.n = n
        self._bar.refresh()
