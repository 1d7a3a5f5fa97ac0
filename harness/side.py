"""Work beside the run, in a second process: the command line's checks, drawing curves.png, mirroring to W&B.

The run's own process loads the model and generates. The checks compose the config twice (~0.25 s), drawing
needs matplotlib (~0.5 s to import, ~0.2 s to draw a figure) and W&B its import, its service's start and its
final tables (~1.5 s); none of them changes a number of the run. The `ttc` command starts one worker process
(`start()`, a spawned one-process pool) first thing; the worker checks the command line while the run imports
transformers, then imports matplotlib while the run loads its model, and runs what it is given in the order
given. With a core to spare (the generator's threads leave one, or a GPU generates) this
work costs the run almost no wall-clock time; its CPU time is unchanged. Without a worker (library callers of
`run.execute`, tests, launchers that run jobs in other processes) `call` runs the function at once, in this
process, with the same result. A worker that dies is replaced by in-process calls from then on.

Knows nothing of W&B or of the checks: it runs module-level functions with picklable arguments (of drawing it
knows only the warm-up figure).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

_pool: ProcessPoolExecutor | None = None


def _quiet() -> None:
    """The worker's set-up. Ctrl-C reaches the whole process group; the worker leaves it to the run, which
    closes its W&B run through the worker and then stops it. A run killed outright (kill -9) cannot stop it,
    and its task queue never reports end-of-file (the worker holds both ends): a thread watches the run's
    process and ends the worker with it."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_follow_parent, daemon=True).start()


def _follow_parent() -> None:
    import os
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(1)


def warm() -> None:
    """The imports worth moving out of the run's way, and one figure drawn and dropped so that the run's own
    first figure finds fonts and renderer ready (called in the worker, after the command's checks)."""
    from ttc.analysis.outputs import plot

    plot([{"model": "m", "series": "s", "strategy": "s", "selection": "majority", "verifier": "none", "level": "all",
           "budget": b, "accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6, "flops_per_problem": 10.0 ** b}
          for b in (1, 2)], title="warm-up")


def start() -> None:
    """Start the worker (spawned: the run's process may hold torch threads a fork would copy)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet)
        _pool.submit(int)  # the pool spawns its process on the first submit: now, not at the first real call


def active() -> bool:
    """Whether a worker is running (calls go to it)."""
    return _pool is not None


@dataclass(frozen=True)
class Pending:
    """One call given to `call`: its future, and the call itself, run here should the worker die under it."""

    future: Future
    fn: Callable[..., Any]
    args: tuple

    def done(self) -> bool:
        """Whether the call has ended (a dead worker's calls have: `result` then runs them here)."""
        return self.future.done()

    def result(self) -> Any:
        """The call's value (its error raised); if the worker died under it, the call's value made here."""
        global _pool
        try:
            return self.future.result()
        except BrokenProcessPool:
            _pool = None
            return self.fn(*self.args)


def call(fn: Callable[..., Any], *args: Any) -> Pending:
    """`fn(*args)` in the worker, queued behind earlier calls; with no worker (or a dead one), run here and now
    (an error of `fn` is raised by `result()` either way)."""
    global _pool
    done: Future = Future()
    if _pool is not None:
        try:
            return Pending(_pool.submit(fn, *args), fn, args)
        except (BrokenProcessPool, RuntimeError):
            _pool = None
    try:
        done.set_result(fn(*args))
    except Exception as err:
        done.set_exception(err)
    return Pending(done, fn, args)


def stop(now: bool = False) -> None:
    """End the worker once its queued work is done, without waiting for its interpreter to wind down (its
    results are all in); `now` (an error path, Ctrl-C): at once, killing it mid-task, so that the exit never
    waits on the worker (killing it before the pool's shutdown raced with the pool's thread on Python 3.11 and
    printed a stray traceback after the error line: the shutdown comes first)."""
    global _pool
    pool, _pool = _pool, None
    if pool is None:
        return
    if now:  # no public terminate before Python 3.14: the pool's process map and thread, read before shutdown
        procs, thread = dict(getattr(pool, "_processes", None) or {}), getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)  # wakes the pool's thread once, before anything dies
        for proc in procs.values():
            proc.kill()
        if thread is not None:  # it sees the worker gone and closes its pipes; the exit then waits on nothing
            thread.join(timeout=10)
        return
    try:
        pool.submit(int).result()  # everything queued before has finished
        pool.submit(_quit)
    except (BrokenProcessPool, RuntimeError):  # it died: what it owed was run here (`result`)
        pass
    pool.shutdown(wait=False)


def _quit() -> None:
    """The worker's last act, ending it the way `ttc` ends (ttc.harness.cli.entry): exit handlers (W&B's
    service shutdown among them), then os._exit, skipping the teardown of matplotlib's objects that the run's
    process would otherwise wait for (multiprocessing joins its children at exit)."""
    import atexit
    import os
    import sys

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
