"""HF transformers generator: batched sampling with a shared-prefill KV cache, scoring, branch scoring, CoT reads
and beam search, on one HFModel it holds as `lm` (ttc.generators.hf.model: load, encode, prefill, stop detection,
card); the model's public surface is also the generator's (attributes copied at construction, methods and batch
bounds delegating to `lm`).

Each prompt is prefilled once; its cache is then copied to its n sample rows, so samples 2..n count
their prompt as cached tokens. Prompts are batched together (left padding); rows that finish are pruned
from the batch so they stop costing decode steps (ttc.generators.hf.decode). Sampling is seeded per row
(ttc.generators.hf.sampling). FLOPs are counted from the model card at the positions actually computed, not from
padded shapes (ttc.generators.hf.records). Inside prefix_caching() prompts reuse the KV of the last calls' reads
(ttc.generators.hf.prefix).

Knows nothing about tasks, strategies or configs.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch

from ttc.contracts.records import Completion, SamplingParams, Scored
from ttc.generators.hf.beam import beam_search
from ttc.generators.hf.branches import score_branches
from ttc.generators.hf.decode import decode
from ttc.generators.hf.model import HFModel, follow_up
from ttc.generators.hf.prefix import PrefixStore, prefill_any
from ttc.generators.hf.reads import answer_margins, score, top_tokens
from ttc.generators.hf.records import Rows
from ttc.generators.hf.tail import Tail


def _lm_bound(attr: str, doc: str) -> property:
    """A batch bound of the generator's HFModel `lm`, read and set there (every forward built on `lm` obeys it)."""
    return property(lambda self: getattr(self.lm, attr), lambda self, value: setattr(self.lm, attr, value), doc=doc)


class HFGenerator:
    """A local causal LM run with HF transformers on CPU or GPU: decoding, scoring and reads over the HFModel `lm`
    (the arguments are HFModel's); `name`, `card`, `tokenizer`, `model`, `device`, `eos` and `pad` are the model's."""

    def __init__(self, model: str, name: str | None = None, device: str = "cpu", dtype: str = "float32",
                 max_batch_rows: int = 256, threads: int | None = None, revision: str | None = None,
                 card: dict | None = None, max_batch_tokens: int = 4096) -> None:
        self.lm = HFModel(model, name, device, dtype, max_batch_rows, threads, revision, card, max_batch_tokens)
        self.name, self.card, self.tokenizer, self.model = self.lm.name, self.lm.card, self.lm.tokenizer, self.lm.model
        self.device, self.eos, self.pad = self.lm.device, self.lm.eos, self.lm.pad
        self._store: PrefixStore | None = None  # a PrefixStore inside prefix_caching() only
        self._listener: Callable[[int, float], None] | None = None  # Ticking: progress inside a call
        self._call = (0, 1, 0)  # (rows of this call's finished chunks, rows of the call, tokens reported)

    # ---- the model's surface (HFModel) ----------------------------------------------------------
    max_rows = _lm_bound("max_rows", "Rows per forward at most (HFModel.max_rows).")
    max_tokens = _lm_bound("max_tokens", "Tokens per forward of a read at most (HFModel.max_tokens).")

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text (HFModel.encode)."""
        return self.lm.encode(text, special)

    def prefill(self, encoded: list[list[int]], tail: Tail | None = None):
        """Read left-padded prompts in one forward (HFModel.prefill)."""
        return self.lm.prefill(encoded, tail)

    def hit_stop(self, tokens: list[int], stops: tuple[str, ...]) -> bool:
        """Whether the text now contains a stop string (HFModel.hit_stop)."""
        return self.lm.hit_stop(tokens, stops)

    def text_of(self, tokens: list[int], stops: tuple[str, ...] = ()) -> tuple[str, str | None]:
        """A decoded row's (text, stop string it was cut at) (HFModel.text_of)."""
        return self.lm.text_of(tokens, stops)

    @contextlib.contextmanager
    def prefix_caching(self) -> Iterator[None]:
        """PrefixCaching (ttc.contracts.protocols): within the block, prompts reuse the KV of what the last calls
        read (a step search's next round reads only its new tokens); outside it nothing is kept."""
        outer, self._store = self._store, PrefixStore()
        try:
            yield
        finally:
            self._store = outer

    def follow_up(self, text: str) -> str:
        """ChatTurns (ttc.contracts.protocols): a new user turn after the assistant's, in the chat template."""
        return follow_up(self.tokenizer, text)

    def listen(self, fn: Callable[[int, float], None] | None) -> None:
        """Ticking (ttc.contracts.protocols): report tokens and the share of a generate call done as it decodes."""
        self._listener = fn

    def _tell(self, state: Rows, max_new: int) -> None:
        """One report to the listener: new tokens of this chunk, and the call's share done so far."""
        base, total, told = self._call
        tokens = sum(len(t) for t in state.tokens)
        done = sum(1.0 if f is not None else len(t) / max(max_new, 1) for f, t in zip(state.finish, state.tokens))
        self._call = (base, total, tokens)
        self._listener(tokens - told, min((base + done) / max(total, 1), 1.0))

    # ---- sampling -------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
        """len(seeds[i]) completions of prompts[i], each drawn with its own seed."""
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seed lists")
        encoded = [self.encode(p) for p in prompts]
        if self._store is not None:
            self._store.begin_call()
        out: list[list[Completion]] = [[] for _ in prompts]
        total = sum(len(s) for s in seeds)
        even = -(-total // -(-total // self.max_rows)) if total else 1  # rows per chunk, balanced: no near-empty last one
        start = 0
        while start < len(prompts):
            stop, rows = start, 0
            while stop < len(prompts) and (stop == start or rows < even and rows + len(seeds[stop]) <= self.max_rows):
                rows += len(seeds[stop])
                stop += 1
            self._call = (sum(len(s) for s in seeds[:start]), total, 0)
            chunk = self._generate_chunk(encoded[start:stop], params, [list(s) for s in seeds[start:stop]],
                                         list(prompts[start:stop]))
            out[start:stop] = chunk
            start = stop
        return out

    def _generate_chunk(self, encoded: list[list[int]], params: SamplingParams,
                        seeds: list[list[int]], texts: list[str]) -> list[list[Completion]]:
        return decode(self.lm, prefill_any(self.lm, self._store, encoded), encoded, params, seeds, texts,
                      self._tell if self._listener is not None else None)

    # ---- scoring ------------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """log p(continuation | prompt), batched with right padding; see ttc.generators.hf.reads."""
        return score(self.lm, prompts, continuations)

    def score_branches(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[Scored]]:
        """BranchScorer (ttc.contracts.protocols): each prompt is read once (its KV cache kept), and every
        option is fed from that cache; see ttc.generators.hf.branches."""
        return score_branches(self.lm, self._store, prompts, options)

    # ---- CoT decoding (ttc.generators.hf.reads) -----------------------------------------------------
    def top_tokens(self, prompts: Sequence[str], k: int) -> tuple[list[list[tuple[str, float]]], list[tuple[int, float]]]:
        """TopTokens (ttc.contracts.protocols): each prompt's k most likely next tokens, from one prefill."""
        return top_tokens(self.lm, prompts, k)

    def answer_margins(self, prompts: Sequence[str], texts: Sequence[str],
                       spans: Sequence[tuple[int, int]]) -> list[tuple[float, int, float]]:
        """AnswerMargins (ttc.contracts.protocols): mean p(top1) - p(top2) over the span's tokens."""
        return answer_margins(self.lm, prompts, texts, spans)

    # ---- beam search ----------------------------------------------------------------------------
    def beam_search(self, prompts: Sequence[str], width: int, max_tokens: int,
                    length_penalty: float = 1.0) -> list[list[Completion]]:
        """Token-level beam search; see ttc.generators.hf.beam."""
        return beam_search(self.lm, prompts, width, max_tokens, length_penalty)
