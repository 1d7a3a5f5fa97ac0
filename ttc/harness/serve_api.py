"""OpenAI's request and response shapes for `ttc serve`: a request body checked field by field (one error naming
the field, in OpenAI's error shape, never a traceback), and a strategy's result as a chat or text completion.

A request names a preset (`model`), its prompt (`messages` for chat, `prompt` for completions), and optionally
`n` (the strategy's budget), `temperature`, `top_p`, `max_tokens`, `stop`, `seed` and `stream`; what is ttc's own
sits under one extension key, `ttc`: `selection` (the preset's selection rule, e.g. majority), `budget_flops` (the
policy preset's budget: the largest budget its policy was fitted at within it), `problem_id` (seeds and
tie-breaks hang on it, as in a run; default: a
digest of the prompt or the conversation, so the same prompt and seed give the same answer), `candidates` (return every
candidate) and `timeout_s` (this request's deadline, at most the server's). Knows nothing about models or HTTP.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ttc.contracts.records import ProblemResult

Kind = Literal["chat", "text"]
SAMPLING = ("temperature", "top_p", "max_tokens")  # request fields passed to the preset's strategy config


class RequestError(Exception):
    """A bad request: HTTP status, the message and the field it names (OpenAI's `param`)."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind

    def body(self) -> dict:
        """OpenAI's error object."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": None}}


@dataclass(frozen=True)
class Request:
    """One checked request: the preset, the prompt's question, the strategy settings it asks for, its seed."""

    kind: Kind
    model: str
    question: str
    settings: dict[str, Any] = field(default_factory=dict)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    problem_id: str = ""
    candidates: bool = False
    timeout_s: float | None = None
    messages: tuple[tuple[str, str], ...] = ()  # a chat's (role, content) turns, for a model's chat template
    budget_flops: float | None = None  # the policy preset's budget: its largest fitted budget within this


def _number(body: dict, key: str, kind: type, low: float, high: float | None = None) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise RequestError(400, f"{key} must be {'an integer' if kind is int else 'a number'}, not {value!r}", key)
    if value < low or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"between {low} and {high}"
        raise RequestError(400, f"{key}={value} is out of range: it must be {span}", key)
    return value


def _question(body: dict, kind: Kind) -> str:
    """The user's text: the chat's last user message, or the completion's prompt."""
    if kind == "text":
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise RequestError(400, "prompt must be a non-empty string", "prompt")
        return prompt
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list of {role, content} objects", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise RequestError(400, f"messages[{i}] must be an object with string role and content", "messages")
    users = [m["content"] for m in messages if m["role"] == "user"]
    if not users:
        raise RequestError(400, "messages has no user message", "messages")
    return users[-1]


def parse(body: object, kind: Kind, max_n: int) -> Request:
    """A request body checked against OpenAI's schema (and ttc's extension); RequestError names the bad field."""
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "model must name a preset (GET /v1/models lists them)", "model")
    settings = {"n": _number(body, "n", int, 1, max_n), "temperature": _number(body, "temperature", float, 0, 2),
                "top_p": _number(body, "top_p", float, 0, 1), "max_tokens": _number(body, "max_tokens", int, 1)}
    stop = body.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else stop
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
        raise RequestError(400, "stop must be a string or a list of strings", "stop")
    extension = body.get("ttc") or {}
    if not isinstance(extension, dict):
        raise RequestError(400, "ttc must be an object (problem_id, candidates, timeout_s, selection, "
                                "budget_flops)", "ttc")
    selection = extension.get("selection")
    if selection is not None:
        if not isinstance(selection, str) or not selection:
            raise RequestError(400, f"ttc.selection must be a selection rule's name, not {selection!r}", "ttc.selection")
        settings["selection"] = selection
    question = _question(body, kind)
    turns = tuple((m["role"], m["content"]) for m in body["messages"]) if kind == "chat" else ()
    digest = hashlib.sha256(json.dumps(turns).encode() if turns else question.encode()).hexdigest()[:16]
    pid = extension.get("problem_id") or f"req-{digest}"
    return Request(kind, model, question, {k: v for k, v in settings.items() if v is not None}, tuple(stop),
                   _number(body, "seed", int, 0), bool(body.get("stream", False)), str(pid),
                   bool(extension.get("candidates", False)), _number(extension, "timeout_s", float, 0), turns,
                   _number(extension, "budget_flops", float, 0))


def completion(req: Request, result: ProblemResult, strategy: str) -> dict:
    """The response body: the selected candidate as choice 0, usage over every candidate (prompt tokens as OpenAI
    counts them: those computed and those read from a prefix cache, the cached ones also under
    prompt_tokens_details), and `ttc`: the ledger,
    the strategy and its budget, the selected candidate's answer and `info` (for strategy=adaptive, the difficulty
    bin and the arm it chose), and every candidate where asked."""
    chosen = result.candidates[result.selected]
    text, reason = chosen.completion.text, "length" if chosen.completion.finish_reason == "length" else "stop"
    choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
              if req.kind == "chat" else {"index": 0, "text": text, "finish_reason": reason, "logprobs": None})
    generated = sum(c.completion.generated_tokens for c in result.candidates)
    ledger = result.ledger
    prompt = ledger.prompt_tokens + ledger.cached_tokens
    extra = {"strategy": strategy, "budget": {"amount": result.budget.amount, "unit": result.budget.unit},
             "problem_id": req.problem_id, "answer": chosen.answer, "selected": result.selected,
             "info": dict(chosen.info),  # the strategy's own record of the pick (adaptive: the bin and the arm)
             "ledger": {k: getattr(ledger, k) for k in ("generated_tokens", "prompt_tokens", "cached_tokens",
                                                        "generator_flops", "verifier_flops", "verifier_tokens")}}
    if req.candidates:
        extra["candidates"] = [{"text": c.completion.text, "answer": c.answer,
                                "score": None if c.verdict is None else c.verdict.score} for c in result.candidates]
    return {"id": f"{'chatcmpl' if req.kind == 'chat' else 'cmpl'}-{req.problem_id}-{time.time_ns()}",
            "object": "chat.completion" if req.kind == "chat" else "text_completion", "created": int(time.time()),
            "model": req.model, "choices": [choice],
            "usage": {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated,
                      "prompt_tokens_details": {"cached_tokens": ledger.cached_tokens}}, "ttc": extra}


def chunks(body: dict) -> list[dict]:
    """A finished response as OpenAI's stream chunks: the text in one delta, then the finish reason (a search
    selects only at its end, so nothing streams before it)."""
    choice = body["choices"][0]
    chat = body["object"] == "chat.completion"
    kind = "chat.completion.chunk" if chat else "text_completion"
    first = {"index": 0, "delta": {"role": "assistant", "content": choice["message"]["content"]},
             "finish_reason": None} if chat else {"index": 0, "text": choice["text"], "finish_reason": None}
    last = {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]} if chat else {
        "index": 0, "text": "", "finish_reason": choice["finish_reason"]}
    head = {"id": body["id"], "object": kind, "created": body["created"], "model": body["model"]}
    return [{**head, "choices": [first]}, {**head, "choices": [last], "usage": body["usage"], "ttc": body["ttc"]}]
