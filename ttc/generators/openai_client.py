"""Generator for any OpenAI-compatible server (vLLM `serve`, SGLang, TGI, llama.cpp, OpenAI itself).

- `endpoint="completions"` sends raw prompts; `endpoint="chat"` wraps each prompt as one user message.
- One request per sample (`n=1`, the sample's `seed`), so the same seed gives the same text wherever the
  server honours seeds; requests run concurrently up to `concurrency`.
- Failed requests (connection errors, 429, 5xx) are retried with exponential backoff and jitter up to
  `retries` times; other HTTP errors stop at once with the server's message.
- Token counts come from the server's `usage` (prompt, completion and cached prompt tokens); log-
  probabilities where the server offers them. FLOPs use the model card the config names (`card`: a
  bundled model name, a directory with card.json, or null for no FLOPs), since a server does not say.
- `price` (dollars per million input, cached-input and output tokens) prices every request from its `usage`;
  without it the completions' dollars stay empty.
- `max_tokens` caps every request's output, `max_request_dollars` caps one request's charge (priced before it
  is sent), and `tokenizer` names a local tokenizer whose counts are checked against the provider's `usage`
  (ttc.generators.api_limits; the tallies are the generator's `usage_check`).
- `score` asks the completions endpoint to echo prompt + continuation with log-probabilities and sums
  those of the continuation's tokens (by character offset).
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from ttc.contracts.cards import ModelCard, load_card
from ttc.contracts.prices import Price, price_of
from ttc.generators.api_limits import LocalCounter, RequestLimits, UsageCheck, prompt_bound
from ttc.generators.constraints import refuse
from ttc.contracts.errors import ConfigError, UpstreamError
from ttc.generators.models import resolve_model
from ttc.contracts.records import Completion, SamplingParams, Scored

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)


class OpenAIGenerator:
    """A generator over an OpenAI-compatible completions server (vLLM serve, the test server, an API)."""

    def __init__(self, model: str, base_url: str = "http://localhost:8000/v1", endpoint: str = "completions",
                 api_key: str | None = None, card: str | None = None, concurrency: int = 8, retries: int = 4,
                 backoff_s: float = 0.5, timeout_s: float = 120.0, logprobs: bool = True,
                 price: dict | None = None, max_tokens: int | None = None,
                 max_request_dollars: float | None = None, tokenizer: str | None = None) -> None:
        if endpoint not in ("completions", "chat"):
            raise ConfigError(f"generator.endpoint={endpoint} is not valid; choose one of: chat, completions")
        if concurrency < 1 or retries < 0:
            raise ConfigError("generator.concurrency must be >= 1 and generator.retries >= 0")
        self.model, self.base_url, self.endpoint = model, base_url.rstrip("/"), endpoint
        self.api_key, self.concurrency, self.retries, self.backoff_s = api_key, concurrency, retries, backoff_s
        self.timeout_s, self.logprobs = timeout_s, logprobs
        self.card: ModelCard | None = load_card(resolve_model(card, "generator.card")) if card else None
        self.price: Price | None = price_of(price)  # dollars per million tokens; None: unpriced
        self.limits = RequestLimits(max_tokens, max_request_dollars, self.price)
        self.counter = LocalCounter(tokenizer, endpoint == "chat") if tokenizer else None
        self.usage_check = UsageCheck()
        self.name = model

    def check(self) -> None:
        """Reachable (ttc.contracts.protocols): the server answers and, where it lists models, serves ours."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(f"{self.base_url}/models", headers=headers)
                with urllib.request.urlopen(req, timeout=min(self.timeout_s, 10.0)) as resp:
                    served = [m.get("id") for m in json.loads(resp.read()).get("data", [])]
                break
            except urllib.error.HTTPError as err:
                if err.code in (401, 403):
                    raise ConfigError(f"generator.base_url={self.base_url}: the server refused the API key "
                                      f"(HTTP {err.code}); set generator.api_key=...") from None
                return  # no model list here (some servers have none): the first request will tell
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as err:
                if attempt == self.retries:
                    reason = getattr(err, "reason", err)
                    raise ConfigError(f"generator.base_url={self.base_url}: cannot reach the server ({reason}, "
                                      f"{attempt + 1} tries); start it or fix the URL") from None
                time.sleep(self.backoff_s * 2 ** attempt * (0.5 + random.random()))
        if served and self.model not in served:
            raise ConfigError(f"generator.model={self.model} is not served at {self.base_url}; it serves: "
                              f"{', '.join(map(str, served))}")

    # ---- HTTP -----------------------------------------------------------------------------------
    def _post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(f"{self.base_url}/{path}", data=data, headers=headers)
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as err:
                if err.code not in RETRY_STATUS or attempt == self.retries:
                    detail = " ".join(err.read().decode(errors="replace")[:300].split())
                    raise UpstreamError(f"generator.base_url={self.base_url}: {path} answered HTTP {err.code} "
                                      f"({detail}); check generator.model={self.model} and the server") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if attempt == self.retries:
                    reason = getattr(err, "reason", err)
                    raise UpstreamError(f"generator.base_url={self.base_url}: cannot reach the server ({reason}, "
                                        f"{attempt + 1} tries); start it or fix the URL, then rerun to resume") from None
            time.sleep(self.backoff_s * 2 ** attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _map(self, fn, items: list) -> list:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(fn, items))

    # ---- generation -----------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
        """Generator.generate (ttc.contracts.protocols): len(seeds[i]) seeded completions of prompts[i]."""
        refuse(params, "generator=openai")
        chat = self.endpoint == "chat"  # every prompt's limit first: one over the ceiling stops the call unsent
        local = [self.counter.prompt(p) if self.counter and self.counter.exact else None for p in prompts]
        limits = [self.limits.tokens(params.max_tokens, prompt_bound(p, chat, self.counter, n)
                                     if self.limits.max_dollars else 0) for p, n in zip(prompts, local)]
        jobs = [(i, j, p, s) for i, (p, row) in enumerate(zip(prompts, seeds)) for j, s in enumerate(row)]
        for limit, row in zip(limits, seeds):
            if limit < min(params.max_tokens, self.limits.max_tokens or params.max_tokens):
                self.usage_check.lower(params.max_tokens, limit, len(row), self.limits.max_dollars)
        done = self._map(lambda job: self._one(job[2], params, job[3], job[1], limits[job[0]], local[job[0]]), jobs)
        out: list[list[Completion]] = [[] for _ in prompts]
        for (i, _, _, _), completion in zip(jobs, done):
            out[i].append(completion)
        return out

    def _one(self, prompt: str, params: SamplingParams, seed: int, index: int, limit: int,
             local_prompt: int | None) -> Completion:
        body = {"model": self.model, "max_tokens": limit, "temperature": params.temperature,
                "top_p": params.top_p, "seed": int(seed) % 2**31, "n": 1}
        if params.top_k:
            body["top_k"] = params.top_k  # vLLM and SGLang extensions; ignored elsewhere
        if params.min_p:
            body["min_p"] = params.min_p
        if params.stop:
            body["stop"] = list(params.stop)
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
            if self.logprobs:
                body["logprobs"] = True
            resp = self._post("chat/completions", body)
            choice = resp["choices"][0]
            text = choice["message"]["content"] or ""
            lps = [t["logprob"] for t in ((choice.get("logprobs") or {}).get("content") or [])]
        else:
            body["prompt"] = prompt
            if self.logprobs:
                body["logprobs"] = 1
            resp = self._post("completions", body)
            choice = resp["choices"][0]
            text = choice["text"]
            lps = [lp for lp in ((choice.get("logprobs") or {}).get("token_logprobs") or []) if lp is not None]
        usage = resp.get("usage") or {}
        p_tok, g_tok = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", len(lps)))
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        prompt_flops, flops = self.card.generation_flops(p_tok, cached, g_tok) if self.card else (0.0, 0.0)
        kv_bytes = self.card.generation_kv_bytes(p_tok, g_tok) if self.card else 0.0  # 16-bit K/V assumed
        dollars = self.price.dollars(p_tok, cached, g_tok) if self.price else None
        stop_reason = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
        self._check_usage(local_prompt, text + (stop_reason or ""), p_tok, g_tok, dollars)
        return Completion(index=index, seed=int(seed), text=text, prompt_tokens=p_tok, cached_tokens=cached,
                          generated_tokens=g_tok, logprob=float(sum(lps)), finish_reason=choice.get("finish_reason")
                          or "length", flops=flops, prompt_flops=prompt_flops, token_logprobs=tuple(lps),
                          kv_bytes=kv_bytes, dollars=dollars,
                          stop_reason=stop_reason)

    def _check_usage(self, local_prompt: int | None, text: str, p_tok: int, g_tok: int,
                     dollars: float | None) -> None:
        if self.counter is not None:  # the prompt counted once per prompt, in generate
            self.usage_check.compare(local_prompt, self.counter.completion(text), p_tok, g_tok)
        if self.limits.max_dollars is not None and dollars is not None and dollars > self.limits.max_dollars:
            self.usage_check.overcharged(dollars, self.limits.max_dollars)

    # ---- scoring --------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """Generator.score (ttc.contracts.protocols): log p(continuation | prompt) per pair."""
        if self.endpoint != "completions":
            raise ConfigError("generator.endpoint=chat cannot score continuations; use endpoint=completions")
        return self._map(lambda pc: self._score_one(*pc), list(zip(prompts, continuations)))

    def _score_one(self, prompt: str, continuation: str) -> Scored:
        body = {"model": self.model, "prompt": prompt + continuation, "max_tokens": 1, "echo": True,
                "logprobs": 1, "temperature": 0.0}
        resp = self._post("completions", body)
        lp = resp["choices"][0]["logprobs"]
        n_prompt = int((resp.get("usage") or {}).get("prompt_tokens", len(lp["tokens"])))
        offsets, values = lp["text_offset"][:n_prompt], lp["token_logprobs"][:n_prompt]
        # offsets index the echoed text, which may start with special tokens (vLLM echoes "<s>"): count the
        # continuation back from the end of the echoed prompt
        start = offsets[-1] + len(lp["tokens"][n_prompt - 1]) - len(continuation)
        cont = tuple(v for o, v in zip(offsets, values) if o >= start and v is not None)
        flops = self.card.span_flops(0, n_prompt) if self.card else 0.0
        return Scored(logprob=float(sum(cont)), tokens=n_prompt, flops=flops, token_logprobs=cont)
