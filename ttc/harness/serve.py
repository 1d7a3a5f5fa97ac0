"""`ttc serve [group=option ...]`: test-time compute behind OpenAI's API, on Starlette and uvicorn.

    ttc serve                                   # the tiny world: presets greedy, majority, best_of_n on :8000
    ttc serve serve.port=8011 'serve.presets=[greedy,best_of_n,prm_beam]' verifier=tiny_prm

The generator, verifier and task come from the same Hydra groups as a run; each preset (`serve.presets`, strategy
group options) is a model id: `model` picks it. `POST /v1/chat/completions` and `POST /v1/completions` run the
preset's strategy on the request's prompt (the user message in the task's prompt format, `serve.template`) and
answer with the selected candidate, usage over every candidate and a `ttc` object (ledger, strategy, budget;
ttc.harness.serve_api); requests arriving together run as one strategy call (ttc.harness.serve_batch); `stream: true` answers in OpenAI's chunks once the strategy has selected (a search
cannot stream before it selects). `GET /v1/models`, `GET /health`. One strategy call at a time (the model is
not shared across threads); the event loop stays free while it runs. Binds 127.0.0.1 unless told otherwise;
`serve.api_key` makes a key required (401 without it); bodies over `serve.max_body_bytes` get 413; a request
unanswered after `serve.timeout_s` gets 504 (a strategy call already running finishes, its answer dropped);
SIGTERM lets the requests in flight finish, then exits (uvicorn's graceful shutdown); one log line per request
(model, status, tokens, FLOPs, seconds) goes to stderr. `serve.record=DIR` keeps every answered request as a run
directory per preset (ttc.harness.serve_record). Proxy mode: with generator=openai in front of another engine,
one upstream request per sample, retried with backoff; an upstream that still fails is a 502 with its message.
`serve.chat_tokenizer` renders a chat request's messages in the model's chat template.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from ttc.contracts.errors import ConfigError, UpstreamError
from ttc.contracts.records import Problem, ProblemResult
from ttc.harness.resolvers import register
from ttc.harness.components import build, build_verifier
from ttc.harness.serve_api import SAMPLING, Request, RequestError, chunks, completion, parse
from ttc.harness.serve_batch import Batcher, Waiting
from ttc.harness.serve_record import Recorder
from ttc.tasks.chat import conversation_renderer


@dataclass
class Preset:
    """A served model id: its strategy's config node (built per request, with the request's settings)."""

    name: str
    node: DictConfig


class Service:
    """The served components: generator, verifier, task (its extractor), presets; `answer` runs a batch of
    requests as one strategy call."""

    def __init__(self, cfg: DictConfig, presets: list[Preset]) -> None:
        self.cfg, self.presets = cfg, {p.name: p for p in presets}
        self.task = build(cfg.task, "task")
        self.generator = build(cfg.generator, "generator")
        self.verifier = build_verifier(cfg, self.generator)
        self.lock = threading.Lock()
        tokenizer, record = cfg.serve.get("chat_tokenizer"), cfg.serve.get("record")
        self.render = conversation_renderer(str(tokenizer), "serve.chat_tokenizer") if tokenizer else None
        self.recorder = Recorder(record, cfg, self.task, self.generator, self.verifier, {
            name: (p.node, build(p.node, "strategy")) for name, p in self.presets.items()}) if record else None

    def prompt(self, req: Request) -> str:
        """The request's prompt: a chat in the model's chat template (serve.chat_tokenizer), else the user's text
        in the task's prompt format (serve.template)."""
        if self.render and req.messages:
            return self.render([{"role": role, "content": content} for role, content in req.messages])
        return self.cfg.serve.template.format(question=req.question)

    def strategy(self, req: Request) -> Any:
        """The preset's strategy with the request's settings (a setting its config has no field for is refused)."""
        preset = self.presets.get(req.model)
        if preset is None:
            raise RequestError(404, f"model {req.model!r} is not served; presets: {', '.join(self.presets)}",
                               "model", "model_not_found")
        settings = dict(req.settings)
        if req.stop:
            settings["stop"] = list(req.stop)
        if req.budget_flops is not None:
            settings["budget"] = policy_budget(preset, req.budget_flops)
        for key in settings:
            if key not in preset.node:
                raise RequestError(400, f"{key} does not apply to preset {preset.name} (its strategy has no {key})",
                                   key if key == "n" or key in SAMPLING else f"ttc.{key}")
        return build(OmegaConf.merge(preset.node, settings), "strategy")

    def seed(self, req: Request) -> int:
        """The request's seed, else the config's."""
        return int(self.cfg.seed if req.seed is None else req.seed)

    def answer(self, batch: list[Waiting]) -> list[dict | RequestError]:
        """Run one batch of requests (equal preset, settings and seed) as one strategy call; their bodies."""
        strategy = batch[0].strategy
        problems = [Problem(w.req.problem_id, self.prompt(w.req), "") for w in batch]
        try:
            with self.lock:
                results: list[ProblemResult] = strategy.run(problems, self.generator, self.verifier,
                                                            self.task.extract, batch[0].seed)
        except UpstreamError as err:  # proxy mode: the engine behind generator=openai failed after its retries
            return [RequestError(502, f"upstream: {err}", kind="upstream_error")] * len(batch)
        if self.recorder is not None:
            try:
                self.recorder.record(batch[0].req.model, problems, results)
            except (OSError, ValueError) as err:  # the answers stand; the record says what it missed
                print(f"ttc serve: recording failed ({type(err).__name__}: {err}); the answers were sent",
                      file=sys.stderr, flush=True)
        return [completion(w.req, r, strategy.name) for w, r in zip(batch, results)]


def policy_budget(preset: Preset, flops: float) -> int:
    """The index of the largest budget of the preset's policy within `flops` FLOPs (400 naming ttc.budget_flops
    where the preset has no policy or every budget is above it)."""
    from ttc.harness.policy import read_policy

    if "budget" not in preset.node or "policy" not in preset.node:
        raise RequestError(400, f"ttc.budget_flops applies to a policy preset; {preset.name} has no policy",
                           "ttc.budget_flops")
    budgets = [float(b["budget_flops"]) for b in read_policy(preset.node.policy)["budgets"]]
    within = [i for i, b in enumerate(budgets) if b <= flops]
    if not within:
        raise RequestError(400, f"ttc.budget_flops={flops:.3g} is below every budget of preset {preset.name}'s "
                                f"policy ({', '.join(f'{b:.3g}' for b in budgets)} FLOPs)", "ttc.budget_flops")
    return max(within, key=lambda i: budgets[i])


def app(service: Service):
    """The ASGI application over `service`."""
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    settings = service.cfg.serve
    max_n, limit, key, timeout = (int(settings.max_n), int(settings.max_body_bytes), settings.get("api_key"),
                                  float(settings.timeout_s))
    batcher = Batcher(service.answer, float(settings.batch_window_ms) / 1000, int(settings.max_batch),
                      int(settings.max_queue))

    async def run(http: HTTPRequest, kind) -> Any:
        start, req, out = time.perf_counter(), None, None
        try:
            req = await _request(http, kind, key, limit, max_n)
            out = await _answered(http, req, service, batcher, timeout)
        except RequestError as err:
            _log(req, err.status, None, start)
            return JSONResponse(err.body(), status_code=err.status,
                                headers={"Retry-After": "1"} if err.status == 429 else None)
        _log(req, 200, out, start)
        if not req.stream:
            return JSONResponse(out)
        events = [f"data: {json.dumps(c)}\n\n" for c in chunks(out)] + ["data: [DONE]\n\n"]
        return StreamingResponse(iter(events), media_type="text/event-stream")

    async def chat(http: HTTPRequest):
        return await run(http, "chat")

    async def text(http: HTTPRequest):  # /v1/completions
        return await run(http, "text")

    async def models(_: HTTPRequest):
        return JSONResponse({"object": "list", "data": [_model(name) for name in service.presets]})

    async def health(_: HTTPRequest):
        return JSONResponse(_health(batcher))

    @contextlib.asynccontextmanager
    async def lifespan(_: Any):
        task = asyncio.create_task(batcher.loop())  # drains the queue for as long as the server runs
        yield
        task.cancel()

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/completions", text, methods=["POST"]),
                             Route("/v1/models", models), Route("/health", health)], lifespan=lifespan)


def _model(name: str) -> dict:
    """A preset as /v1/models lists it."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "ttc"}


def _health(batcher: Batcher) -> dict:
    """/health: requests taken, strategy calls made, requests waiting and requests dropped (client gone)."""
    return {"status": "ok", "requests": batcher.requests, "strategy_calls": batcher.calls,
            "waiting": len(batcher.waiting), "dropped": batcher.dropped}


async def _request(http: Any, kind: str, key: str | None, limit: int, max_n: int) -> Request:
    """The request an HTTP call carries: admitted (API key, declared size), read within `limit` bytes, parsed."""
    _admit(http, key, limit)
    raw = await http.body()
    if len(raw) > limit:
        raise _too_big(len(raw), limit)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(400, f"the body is not valid JSON ({err})") from None
    return parse(body, kind, max_n)


async def _answered(http: Any, req: Request, service: Service, batcher: Batcher, timeout: float) -> dict:
    """The request's answer through the batcher, within the server's and the request's time limits (504), unless
    its client leaves first; settings its preset's strategy refuses are a 400."""
    limit_s = min(timeout, req.timeout_s if req.timeout_s is not None else timeout)
    try:
        return await _unless_gone(http, asyncio.wait_for(batcher.submit(req, service.strategy(req),
                                                                        service.seed(req)), limit_s))
    except asyncio.TimeoutError:
        raise RequestError(504, f"no answer within {limit_s:g} s (serve.timeout_s={timeout:g}, the request's "
                                f"ttc.timeout_s={req.timeout_s})", kind="timeout") from None
    except ConfigError as err:  # the preset's strategy refused the request's settings (its budget, a value)
        raise RequestError(400, str(err)) from None


async def _unless_gone(http: Any, work: Any) -> Any:
    """`work`'s result, unless the client disconnects first: then the wait is cancelled (a request still queued
    is dropped before its strategy call; one already in a call finishes it) and the answer is 499."""
    task, gone = asyncio.ensure_future(work), asyncio.ensure_future(_disconnected(http))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, gone):
            if not pending.done():
                pending.cancel()
    if not task.done() or task.cancelled():
        raise RequestError(499, "the client closed the connection before its answer", kind="client_closed")
    return task.result()


async def _disconnected(http: Any) -> None:
    """Returns when the client has gone (the body is read, so the next ASGI message is the disconnect)."""
    while (await http.receive())["type"] != "http.disconnect":
        pass


def _admit(http: Any, key: str | None, limit: int) -> None:
    """Refuse a request without the API key (when one is set) or announcing a body over the limit."""
    if key and http.headers.get("authorization") != f"Bearer {key}":
        raise RequestError(401, "a valid API key is required (Authorization: Bearer KEY)", kind="authentication_error")
    length = http.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_big(int(length), limit)


def _too_big(size: int, limit: int) -> RequestError:
    """413 for a body of `size` bytes (announced by its header, or read)."""
    return RequestError(413, f"the body is {size:,} bytes, over serve.max_body_bytes={limit:,}")


def _log(req: Request | None, status: int, out: dict | None, start: float) -> None:
    """One line per request: model, status, tokens, FLOPs, seconds."""
    ledger = (out or {}).get("ttc", {}).get("ledger", {})
    flops = ledger.get("generator_flops", 0.0) + ledger.get("verifier_flops", 0.0)
    print(f"ttc serve: {req.model if req else '-'} {status} {ledger.get('generated_tokens', 0)} tokens "
          f"{flops:.3g} FLOPs {time.perf_counter() - start:.3f} s", file=sys.stderr, flush=True)


def load(overrides: list[str], conf_dir: Path) -> Service:
    """The service a `ttc serve` command line composes: the run's groups, `serve`'s settings and its presets (a
    `strategy.KEY=...` setting applies to every preset whose strategy has KEY)."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        register()
        settings = [o for o in overrides if o.startswith("strategy.")]  # the command line's, for every preset
        cfg = compose(config_name="config", overrides=["+serve=default", *[o for o in overrides if o not in settings]])
        presets = []
        for name in cfg.serve.presets:
            node = compose(config_name="config", overrides=[f"strategy={name}"]).strategy
            keys = set(node.keys())  # `in` a DictConfig is False for a mandatory (???) key, such as adaptive's policy
            mine = [o for o in settings if o.split("=", 1)[0].removeprefix("strategy.").split(".")[0] in keys]
            presets.append(Preset(name, compose(config_name="config", overrides=[f"strategy={name}", *mine]).strategy))
    return Service(cfg, presets)


def serve_command(argv: list[str], conf_dir: Path) -> None:
    """`ttc serve ...`: build the components, then serve until interrupted."""
    import uvicorn

    service = load(argv, conf_dir)
    host, port = service.cfg.serve.host, int(service.cfg.serve.port)
    print(f"ttc serve: http://{host}:{port}/v1 (models: {', '.join(service.presets)})", flush=True)
    uvicorn.run(app(service), host=host, port=port, log_level="warning")
