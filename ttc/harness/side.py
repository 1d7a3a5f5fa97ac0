"""Work beside the run, in a second process: the command line's checks, drawing curves.png, mirroring to W&B.

The run's own process loads the model and generates. The checks compose the config twice (~0.25 s), drawing
needs matplotlib (~0.5 s to import, ~0.2 s to draw a figure) and W&B its import, its service's start and its
final tables (~1.5 s); none of them changes a number of the run. The `ttc` command starts one `SideWorker`
first thing and hands it to the run (`run.execute(..., side=...)`) and, through the run, to the W&B mirror
(ttc.harness.live); the worker checks the command line while the run imports transformers, then imports
matplotlib while the run loads its model, and runs what it is given in the order given. With a core to spare
(the generator's threads leave one, or a GPU generates) this work costs the run almost no wall-clock time; its
CPU time is unchanged. Without a worker (library callers of `run.execute`, tests, launchers that run jobs in
other processes) the run is given `InProcess`, whose `call` runs the function at once, in this process, with
the same result. A worker that dies is replaced by in-process calls from then on.

The worker's life is explicit on every path (no pool, no exit handler that joins it): it is a daemonic spawned
process fed through one pipe and answering through another. `stop()` sends it an end mark behind the queued
work and waits for it to exit (bounded); `stop(now=True)` (errors, Ctrl-C) kills it. Its pipes are its only
link: when the run dies its task pipe reports end-of-file, when it dies its answer pipe does, so neither side
ever waits on the other for work that cannot come. It uses no semaphores, so nothing is left for
multiprocessing's resource tracker to warn about. This module holds no state: the worker is the object.

Knows nothing of W&B or of the checks: it runs module-level functions with picklable arguments (of drawing it
knows only the warm-up figure).
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Protocol

STOP_WAIT_S = 120.0  # the longest `stop()` waits for queued work (W&B's final tables) before killing the worker


class WorkerDied(RuntimeError):
    """The side worker ended before answering a call (the call is then run in the run's own process)."""


class _Worker:
    """One spawned worker process, its two pipes, and the two threads of this process that feed and read them."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # the run's process may hold torch threads a fork would copy
        task_r, self.tasks = ctx.Pipe(duplex=False)
        self.answers, answer_w = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_serve, args=(task_r, answer_w), name="ttc-side", daemon=True)
        self.proc.start()
        task_r.close()  # only the worker holds these now: its death is end-of-file here, and ours there
        answer_w.close()
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.futures: dict[int, Future] = {}
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.dead = False
        threading.Thread(target=self._send, daemon=True, name="ttc-side-send").start()
        threading.Thread(target=self._read, daemon=True, name="ttc-side-read").start()

    def submit(self, fn: Callable[..., Any], args: tuple) -> Future:
        """Queue `fn(*args)`; raises WorkerDied if the worker is gone (pickling errors are raised here)."""
        blob = pickle.dumps((fn, args))
        future: Future = Future()
        with self.lock:
            if self.dead:
                raise WorkerDied("the side worker has ended")
            key = next(self.ids)
            self.futures[key] = future
        self.outbox.put((key, blob))
        return future

    def _send(self) -> None:  # a thread: the caller never waits on a worker busy with an earlier call
        while (item := self.outbox.get()) is not None:
            try:
                self.tasks.send(item)
            except OSError:
                break
        try:
            self.tasks.send(None)  # the end mark: the worker exits once everything before it is done
        except OSError:
            pass

    def _read(self) -> None:  # a thread: answers come in order; end-of-file means the worker is gone
        while True:
            try:
                key, ok, value = self.answers.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                future = self.futures.pop(key, None)
            if future is not None:
                future.set_result(value) if ok else future.set_exception(value)
        self._fail_all()

    def _fail_all(self) -> None:
        with self.lock:
            self.dead, futures, self.futures = True, list(self.futures.values()), {}
        for future in futures:
            future.set_exception(WorkerDied("the side worker ended before answering"))

    def stop(self, now: bool) -> None:
        """End the worker: after its queued work (bounded by STOP_WAIT_S), or at once."""
        if not now:
            self.outbox.put(None)
            self.proc.join(STOP_WAIT_S)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self._fail_all()


def _serve(tasks: Connection, answers: Connection) -> None:
    """The worker's loop: run each call in order and answer it; exit at the end mark or when the run is gone."""
    _quiet()
    while True:
        try:
            item = tasks.recv()
        except (EOFError, OSError):  # the run is gone
            break
        if item is None:
            break
        key, blob = item
        try:
            fn, args = pickle.loads(blob)
            answer = (key, True, fn(*args))
        except BaseException as err:  # the call's error is the caller's to raise
            answer = (key, False, err)
        try:
            answers.send(answer)
        except Exception as err:  # an answer that does not pickle
            answers.send((key, False, RuntimeError(f"{type(err).__name__}: {err}")))
    _quit()


def _quiet() -> None:
    """The worker's set-up. Ctrl-C reaches the whole process group; the worker leaves it to the run, which
    closes its W&B run through the worker and then stops it. A run killed outright (kill -9) cannot stop it: a
    thread watches the run's process and ends the worker with it, even mid-call."""
    import signal

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
        try:
            return self.future.result()
        except WorkerDied:
            return self.fn(*self.args)


class Side(Protocol):
    """Where the run's side work goes: a `SideWorker`, or `InProcess` (the run's own process, at once)."""

    def active(self) -> bool:
        """Whether calls go to a second process."""

    def call(self, fn: Callable[..., Any], *args: Any) -> Pending:
        """`fn(*args)`, queued behind earlier calls; its value (or error) from `result()`."""

    def stop(self, now: bool = False) -> None:
        """End whatever runs beside the run (after its queued work, or with `now` at once)."""


class InProcess:
    """No side worker (library callers of `run.execute`, tests, a job a launcher runs in another process): each
    call runs at once, in this process; `stop` has nothing to end."""

    def active(self) -> bool:
        """Never: calls run here."""
        return False

    def call(self, fn: Callable[..., Any], *args: Any) -> Pending:
        """`fn(*args)` here and now (an error of `fn` is raised by `result()`)."""
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except Exception as err:
            done.set_exception(err)
        return Pending(done, fn, args)

    def stop(self, now: bool = False) -> None:
        """Nothing to end."""


IN_PROCESS = InProcess()  # holds nothing: one serves every caller


class SideWorker(InProcess):
    """The `ttc` command's worker process, started at construction; a dead or stopped one runs calls here."""

    def __init__(self) -> None:
        self._worker: _Worker | None = _Worker()

    def active(self) -> bool:
        """Whether the worker is running (calls go to it)."""
        return self._worker is not None and not self._worker.dead

    def call(self, fn: Callable[..., Any], *args: Any) -> Pending:
        """`fn(*args)` in the worker, queued behind earlier calls; with the worker stopped or dead, run here and
        now (an error of `fn` is raised by `result()` either way)."""
        worker = self._worker
        if worker is not None and not worker.dead:
            try:
                return Pending(worker.submit(fn, args), fn, args)
            except (WorkerDied, pickle.PicklingError, AttributeError, TypeError):
                pass
        return super().call(fn, *args)

    def stop(self, now: bool = False) -> None:
        """End the worker once its queued work is done (waiting at most STOP_WAIT_S), or with `now` (an error
        path, Ctrl-C) at once, killing it mid-call, so that the exit never waits on the worker. Safe to call
        twice; later calls run here."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(now)

    def __reduce__(self) -> tuple:
        """The worker belongs to the process that started it: a copy sent to another process (a launcher's job,
        pickled with its arguments) runs its calls there, in process."""
        return InProcess, ()


def _quit() -> None:
    """The worker's last act, ending it the way `ttc` ends (ttc.harness.cli.entry): exit handlers (W&B's
    service shutdown among them), then os._exit, skipping the teardown of matplotlib's objects."""
    import atexit
    import os
    import sys

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
