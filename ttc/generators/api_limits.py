"""Per-request limits for an API generator, and a check of the provider's usage against a local token count.

- `generator.max_tokens` is a ceiling on every request's `max_tokens`, whatever the strategy asks for.
- `generator.max_request_dollars` is a ceiling on one request's charge; it needs `generator.price`. Before a
  request is sent, its prompt is bounded from above (the local tokenizer's count where `generator.tokenizer`
  names one, else the prompt's UTF-8 bytes plus `CHAT_MARGIN` tokens for a chat template, or 2 for special
  tokens and a dummy prefix: a byte-level BPE or byte-fallback tokenizer never makes more tokens than bytes) and
  `max_tokens` is lowered so that the prompt at the input price plus `max_tokens` at the output price stays
  within the ceiling (counted in `UsageCheck.lowered`, said once). Every prompt of a call is priced before any
  request is sent: a prompt that alone costs more is one line and nothing of the call is sent. A provider that
  charges more than that (hidden reasoning tokens) is counted in `UsageCheck.over_ceiling` and said once.
- `generator.tokenizer` (a bundled model name or a directory, like `card`) counts each request's prompt and
  completion locally; `UsageCheck` compares them with the provider's `usage`. The prompt must agree exactly
  (not compared on the chat endpoint when the tokenizer has no chat template: the provider's template is
  unknown); a completion (with the stop string the provider names in `stop_reason`, which it generated and
  counted but cut from the text) within `COMPLETION_SLACK` tokens: a text re-tokenised may merge differently at
  its ends. Disagreements are counted and the first of each kind is said once, on stderr.
Knows nothing about HTTP: it turns prompts, prices and token counts into limits and verdicts.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass, field

from ttc.contracts.errors import ConfigError
from ttc.contracts.prices import Price

CHAT_MARGIN = 64  # tokens a chat template may add around one user message (roles, separators, BOS)
COMPLETION_SLACK = 2  # tokens a re-tokenised completion may differ from the provider's count


@dataclass(frozen=True)
class RequestLimits:
    """The ceilings on one request: `max_tokens` (None: the strategy's) and `max_dollars` (None: no ceiling),
    priced by `price`."""

    max_tokens: int | None = None
    max_dollars: float | None = None
    price: Price | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or self.max_tokens < 1):
            raise ConfigError(f"generator.max_tokens={self.max_tokens} must be a positive integer (or null)")
        if self.max_dollars is not None:
            if isinstance(self.max_dollars, bool) or not self.max_dollars > 0:
                raise ConfigError(f"generator.max_request_dollars={self.max_dollars} must be a positive number "
                                  f"(or null: no ceiling)")
            if self.price is None:
                raise ConfigError("generator.max_request_dollars needs generator.price={input: ..., output: ...} "
                                  "(dollars per million tokens) to price a request before it is sent")

    def tokens(self, wanted: int, prompt_bound: int) -> int:
        """The `max_tokens` to send for a request that wants `wanted` and whose prompt has at most
        `prompt_bound` tokens; a prompt that alone crosses the dollar ceiling is one line."""
        limit = min(wanted, self.max_tokens) if self.max_tokens else wanted
        if self.max_dollars is None:
            return limit
        left = self.max_dollars - self.price.dollars(prompt_bound, 0, 0)
        affordable = math.floor(left * 1e6 / self.price.output + 1e-9) if self.price.output else limit
        if left < 0 or affordable < 1:
            raise ConfigError(
                f"generator.max_request_dollars={self.max_dollars:g}: a prompt of up to {prompt_bound} tokens "
                f"costs {self.price.dollars(prompt_bound, 0, 0):.6g} dollars before any output; raise the ceiling"
                f" (or name generator.tokenizer for an exact prompt count); nothing was sent")
        return min(limit, affordable)


@dataclass
class UsageCheck:
    """Running tallies of the provider's usage against local counts: `requests` compared, `prompt_off` and
    `completion_off` disagreements, `over_ceiling` requests charged above the dollar ceiling, and `lowered`
    requests whose max_tokens the ceiling lowered."""

    requests: int = 0
    prompt_off: int = 0
    completion_off: int = 0
    over_ceiling: int = 0
    lowered: int = 0
    said: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def compare(self, local_prompt: int | None, local_completion: int, prompt: int, completion: int) -> None:
        """Count one request's local counts against the provider's (`local_prompt` None: not comparable); the
        first disagreement of each kind is said once."""
        with self.lock:
            self.requests += 1
            if local_prompt is not None and local_prompt != prompt:
                self.prompt_off += 1
                self._say("prompt", f"the provider counted {prompt} prompt tokens where generator.tokenizer "
                                    f"counts {local_prompt}")
            if abs(local_completion - completion) > COMPLETION_SLACK:
                self.completion_off += 1
                self._say("completion", f"the provider counted {completion} completion tokens where "
                                        f"generator.tokenizer counts {local_completion}")

    def lower(self, wanted: int, sent: int, requests: int, ceiling: float) -> None:
        """Count `requests` sent with max_tokens lowered from `wanted` to `sent` by the ceiling; said once."""
        with self.lock:
            self.lowered += requests
            self._say("lowered", f"max_tokens lowered from {wanted} to {sent} to keep a request within "
                                 f"generator.max_request_dollars={ceiling:g}; its output may be cut")

    def overcharged(self, dollars: float, ceiling: float) -> None:
        """Count a request charged above its ceiling; said once."""
        with self.lock:
            self.over_ceiling += 1
            self._say("ceiling", f"a request cost {dollars:.6g} dollars, above generator.max_request_dollars="
                                 f"{ceiling:g} (the provider counted tokens the request could not bound)")

    def _say(self, kind: str, text: str) -> None:
        if kind not in self.said:
            self.said.add(kind)
            print(f"ttc: usage check: {text} (said once; tallies in the generator's usage_check)",
                  file=sys.stderr, flush=True)


class LocalCounter:
    """A local tokenizer (a bundled model name or a directory) counting what a request sends and gets back."""

    def __init__(self, source: str, chat: bool) -> None:
        from transformers import AutoTokenizer

        from ttc.generators.models import resolve_model

        self.tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(source, "generator.tokenizer")))
        self.chat = chat and bool(getattr(self.tokenizer, "chat_template", None))
        self.exact = self.chat or not chat  # counts the prompt as sent (a chat without a template: it cannot)

    def prompt(self, text: str) -> int:
        """Tokens of the prompt as sent: one user message in the chat template, or the raw prompt."""
        if self.chat:
            return len(self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                                          add_generation_prompt=True))
        return len(self.tokenizer(text).input_ids)

    def completion(self, text: str) -> int:
        """Tokens of a completion's text."""
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)


def prompt_bound(text: str, chat: bool, counter: LocalCounter | None, counted: int | None = None) -> int:
    """An upper bound on a prompt's tokens: the local count where there is a tokenizer (`counted`, if the caller
    has it already), else its UTF-8 bytes (plus CHAT_MARGIN for a chat template)."""
    if counter is not None:
        return (counter.prompt(text) if counted is None else counted) + (CHAT_MARGIN if chat and not counter.chat else 0)
    return len(text.encode()) + (CHAT_MARGIN if chat else 2)
