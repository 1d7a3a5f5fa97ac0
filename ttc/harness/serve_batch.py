"""Batching across requests for `ttc serve`: requests that arrive within a short window (`serve.batch_window_ms`,
at most `serve.max_batch`) and ask for the same preset, settings and seed run as one `strategy.run` over their
problems (every ttc strategy batches across problems); a lone request waits no longer than the window, and not
at all while requests come one at a time (the window opens when the last call had company or others wait).
Requests wait in a bounded queue (`serve.max_queue`): a full queue answers 429 with Retry-After. A request whose
client disconnected (or whose deadline passed) while it waited is dropped before its strategy call, costing nothing. A batch's problems are
padded together on the generator, so a batched answer can differ from the lone one in the last bits of its
logits (as a run's answers depend on its fixed batches); a lone request's answer is the batch run's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable

from anyio import to_thread

from ttc.harness.serve_api import Request, RequestError


@dataclass
class Waiting:
    """A request in the queue: the request, its built strategy, its seed and the future its answer goes to."""

    req: Request
    strategy: Any
    seed: int
    future: asyncio.Future

    def key(self) -> tuple:
        """Requests with equal keys can share one strategy call."""
        return self.req.model, tuple(sorted(self.req.settings.items())), self.req.stop, self.seed


class Batcher:
    """The queue and the loop that drains it in batches; `run(batch)` (in a worker thread) answers a batch of
    Waiting with equal keys, one body or RequestError per request."""

    def __init__(self, run: Callable[[list[Waiting]], list[dict | RequestError]], window_s: float, max_batch: int,
                 max_queue: int) -> None:
        self.run, self.window_s, self.max_batch, self.max_queue = run, window_s, max_batch, max_queue
        self.queue: asyncio.Queue[Waiting] = asyncio.Queue()
        self.waiting: set[int] = set()  # ids of queued requests still wanted (a cancelled one frees its place)
        self.requests = self.calls = self.dropped = 0  # dropped: requests whose client left while they waited

    async def submit(self, req: Request, strategy: Any, seed: int) -> dict:
        """Queue a request and wait for its answer (429 when the queue is full)."""
        if len(self.waiting) >= self.max_queue:
            raise RequestError(429, f"the server is busy ({self.max_queue} requests waiting); retry shortly",
                               kind="rate_limit_error")
        item = Waiting(req, strategy, seed, asyncio.get_running_loop().create_future())
        self.waiting.add(id(item))
        item.future.add_done_callback(lambda _: self.waiting.discard(id(item)))  # answered or cancelled
        self.queue.put_nowait(item)
        self.requests += 1
        return await item.future

    async def loop(self) -> None:
        """Forever: take the first waiting request, gather more for up to the window, answer them in groups."""
        last = 1  # requests in the last call: a client alone is not held for company that never comes
        while True:
            items = [await self.queue.get()]
            self.waiting.discard(id(items[0]))
            window = self.window_s if last > 1 or not self.queue.empty() else 0.0
            deadline = asyncio.get_running_loop().time() + window
            while len(items) < self.max_batch:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), left))
                except asyncio.TimeoutError:
                    break
                self.waiting.discard(id(items[-1]))
            last = len(items)
            for group in groups(items):
                live = [w for w in group if not w.future.cancelled()]  # cancelled: the client left, or its deadline
                self.dropped += len(group) - len(live)
                if not live:
                    continue
                self.calls += 1
                try:
                    answers = await to_thread.run_sync(self.run, live)
                except Exception as err:  # the strategy failed: every request of the call gets the error
                    answers = [RequestError(500, f"the strategy failed: {type(err).__name__}: {err}",
                                            kind="server_error")] * len(live)
                for waiting, answer in zip(live, answers):
                    if not waiting.future.done():
                        (waiting.future.set_exception if isinstance(answer, Exception)
                         else waiting.future.set_result)(answer)


def groups(items: list[Waiting]) -> list[list[Waiting]]:
    """Items by key, in arrival order; a problem id twice in one key starts another group (ids key a batch)."""
    out: list[list[Waiting]] = []
    open_: dict[tuple, list[Waiting]] = {}
    for item in items:
        group = open_.get(item.key())
        if group is None or any(w.req.problem_id == item.req.problem_id for w in group):
            group = open_[item.key()] = []
            out.append(group)
        group.append(item)
    return out
