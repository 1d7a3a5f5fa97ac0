"""The HF engine's public surface, `HFModel`: a local causal LM loaded with its tokenizer and model card, and
what every decoder built on it uses (ttc.generators.hf.engine, ttc.generators.speculative, ttc.generators.contrastive):
encode a text, prefill left-padded prompts in one forward, detect a stop string as tokens arrive, and a finished
row's text. Knows nothing about tasks, strategies or configs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from ttc.contracts.cards import ModelCard, card_from_config, load_card, with_fields
from ttc.contracts.errors import ConfigError
from ttc.generators.hf.batch import left_padded
from ttc.generators.hf.tail import Tail, feed_tail
from ttc.generators.models import display_name, model_source


def default_threads() -> int | None:
    """torch's threads on a CPU when neither `generator.threads` nor OMP_NUM_THREADS says: one core fewer than
    this process may use (at least one), leaving a core to ttc's side worker and to whatever else runs. Measured
    with bench/bench_threads.py on 2 cores (SmolLM2-135M greedy, whole runs): idle, 1 thread is as fast as 2
    (16.3 vs 16.1 s); beside two CPU-bound jobs, 2 threads spinning in OpenMP took 53 s, 1 thread 28 s."""
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, len(os.sched_getaffinity(0)) - 1)


def follow_up(tokenizer, text: str) -> str:
    """The chat template's markup between an assistant's answer and the reply to a further user turn `text`
    (read off a rendered conversation with sentinel answers); a ConfigError if the tokenizer has no template."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("verifier.chat=true needs a generator whose tokenizer has a chat template")
    answer = "\x00TTC-ANSWER\x00"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "question"}, {"role": "assistant", "content": answer},
         {"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    return rendered[rendered.index(answer) + len(answer):]


class HFModel:
    """A causal LM run with HF transformers on CPU or GPU: `model`, `tokenizer`, `card`, `device`, `eos`, `pad`,
    and the batch bounds `max_rows` and `max_tokens` of the forwards built on it."""

    def __init__(self, model: str, name: str | None = None, device: str = "cpu", dtype: str = "float32",
                 max_batch_rows: int = 256, threads: int | None = None, revision: str | None = None,
                 card: dict | None = None, max_batch_tokens: int = 4096) -> None:
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"generator.dtype={dtype} is not valid; choose one of: bfloat16, float16, float32")
        if max_batch_rows < 1:
            raise ConfigError(f"generator.max_batch_rows={max_batch_rows} must be at least 1")
        if max_batch_tokens < 1:
            raise ConfigError(f"generator.max_batch_tokens={max_batch_tokens} must be at least 1")
        threads = threads or (default_threads() if device == "cpu" else None)
        if threads:
            torch.set_num_threads(threads)
        source, kw = model_source(model, revision)
        self.name = name or display_name(model, source)
        try:
            self.card: ModelCard = with_fields(
                load_card(source, self.name) if isinstance(source, Path) else
                card_from_config(AutoConfig.from_pretrained(source, **kw).to_dict(), self.name), card)
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kw)
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, dtype), **kw).to(device).eval()
        except OSError as err:  # a hub id that is not cached (offline) or does not exist
            raise ConfigError(f"generator.model={model}@{revision}: cannot load ({str(err).splitlines()[0]}); "
                              f"download it first or pass a local directory") from None
        self.device, self.max_rows, self.max_tokens = torch.device(device), max_batch_rows, max_batch_tokens
        self.kv_element = torch.empty((), dtype=getattr(torch, dtype)).element_size()  # bytes a cached K/V value
        self.weight_bytes = self.card.forward_weight_bytes(self.kv_element)  # what one forward reads (weights alike)
        self.eos = self.tokenizer.eos_token_id
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos
        self._pieces: dict[int, str] = {}  # each token's own text, decoded once (stop detection)
        self._newline_ids: frozenset[int] | None = None

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text."""
        return self.tokenizer(text, add_special_tokens=special).input_ids

    def prefill(self, encoded: list[list[int]], tail: Tail | None = None):
        """Read left-padded prompts: (last logits [B, V], cache, mask); with a `tail`, logits [B, 1 + S, V] of the
        last prompt token and the tail's tokens (ttc.generators.hf.tail.feed_tail)."""
        width = max(len(e) for e in encoded)
        if width + 1 > self.card.context:
            raise ConfigError(f"a prompt of {width} tokens does not fit the context of {self.card.context}")
        ids, mask = left_padded(encoded, self.pad)
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        if tail is not None:
            return (*feed_tail(self.model, ids, mask, pos, [len(e) for e in encoded], tail, None), mask)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float(), out.past_key_values, mask

    def hit_stop(self, tokens: list[int], stops: tuple[str, ...]) -> bool:
        """Whether the text now contains a stop string. The tail is decoded only when the newest token's own
        text holds the last character of a stop (a stop completes there); stops ending in a space or a
        non-ASCII character, which a token's text alone can hide (a stripped leading space, part of a
        multi-byte character), are always checked."""
        if not self._may_complete(tokens[-1], stops):
            return False
        tail = self.tokenizer.decode(tokens[-(max(len(s) for s in stops) + 2):])
        return any(s in tail for s in stops)


    def _may_complete(self, token: int, stops: tuple[str, ...]) -> bool:
        if any(not s or not s[-1].isascii() or s[-1] == " " for s in stops):
            return True
        if token not in self._pieces:
            self._pieces[token] = self.tokenizer.decode([token])
        return any(s[-1] in self._pieces[token] for s in stops)

    def line_ends(self) -> frozenset[int]:
        """Token ids whose text holds a newline (where a syntax check can run), computed once."""
        if self._newline_ids is None:
            vocab = len(self.tokenizer)
            self._newline_ids = frozenset(i for i in range(vocab) if "\n" in self.tokenizer.decode([i]))
        return self._newline_ids

    def text_of(self, tokens: list[int], stops: tuple[str, ...] = ()) -> tuple[str, str | None]:
        """A decoded row's (text, stop string it was cut at): a final EOS and special tokens dropped, the text cut
        at the first stop string it holds (None: no stop in it)."""
        body = tokens[:-1] if tokens and tokens[-1] == self.eos else tokens
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        hits = [(text.index(s), s) for s in stops if s in text]
        return (text[: min(hits)[0]], min(hits)[1]) if hits else (text, None)
