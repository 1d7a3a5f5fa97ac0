"""HF transformers generator: batched sampling with a shared-prefill KV cache, scoring, and beam search.

Each prompt is prefilled once; its cache is then copied to its n sample rows, so samples 2..n count
their prompt as cached tokens. Prompts are batched together (left padding); rows that finish are pruned
from the batch so they stop costing decode steps. Sampling is seeded per row (see ttc.generators.sampling).
FLOPs are counted from the model card at the positions actually computed, not from padded shapes.

Knows nothing about tasks, strategies or configs.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from ttc.contracts.cards import ModelCard, card_from_config, load_card, with_fields
from ttc.contracts.errors import ConfigError
from ttc.generators.models import display_name, model_source
from ttc.contracts.records import Completion, SamplingParams, Scored
from ttc.generators.constraints import RegexMasks, syntax_invalid
from ttc.generators.hf_cache import RESERVE, growing
from ttc.generators.hf_records import completions
from ttc.generators.sampling import choose

TELL_EVERY = 8  # decode steps between progress reports to a listener (Ticking)
_PRUNE_SHARE = 0.125  # prune finished rows once they are this share of the batch


def token_chunks(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges of at most `max_rows` items whose padded size (items x the longest)
    stays within `max_tokens` (one item alone may exceed it): a forward's activations, and its attention
    scores (rows x width^2), are bounded by tokens, not rows, so peak memory does not grow with n."""
    out, start = [], 0
    while start < len(lengths):
        stop, width = start + 1, lengths[start]
        while stop < len(lengths) and stop - start < max_rows and (stop - start + 1) * max(width, lengths[stop]) <= max_tokens:
            width = max(width, lengths[stop])
            stop += 1
        out.append((start, stop))
        start = stop
    return out


@dataclass
class _Rows:
    """Per-row decoding state of one batch."""

    prompt_of: list[int]
    seeds: torch.Tensor
    tokens: list[list[int]]
    logprobs: list[list[float]]
    finish: list[str | None]
    calls: torch.Tensor | None = None  # decode forwards each row was part of (the rest of its cost is derived)
    confidence: list[list[float]] = field(default_factory=list)  # with params.confidence_k only
    prompts: list[str] = field(default_factory=list)  # the prompts' texts (a syntax check reads prompt + text)
    reused: list[int] = field(default_factory=list)  # per prompt: tokens whose KV came from an earlier call


def default_threads() -> int | None:
    """torch's threads on a CPU when neither `generator.threads` nor OMP_NUM_THREADS says: one core fewer than
    this process may use (at least one), leaving a core to ttc's side worker and to whatever else runs. Measured
    with bench/bench_threads.py on 2 cores (SmolLM2-135M greedy, whole runs): idle, 1 thread is as fast as 2
    (16.3 vs 16.1 s); beside two CPU-bound jobs, 2 threads spinning in OpenMP took 53 s, 1 thread 28 s."""
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, len(os.sched_getaffinity(0)) - 1)


class HFGenerator:
    """A local causal LM run with HF transformers on CPU or GPU."""

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
        self.eos = self.tokenizer.eos_token_id
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos
        self._store = None  # a PrefixStore inside prefix_caching() only (ttc.generators.hf_prefix)
        self._listener: Callable[[int, float], None] | None = None  # Ticking: progress inside a call
        self._call = (0, 1, 0)  # (rows of this call's finished chunks, rows of the call, tokens reported)

    @contextlib.contextmanager
    def prefix_caching(self) -> Iterator[None]:
        """PrefixCaching (ttc.contracts.protocols): within the block, prompts reuse the KV of what the last calls
        read (a step search's next round reads only its new tokens); outside it nothing is kept."""
        from ttc.generators.hf_prefix import PrefixStore

        outer, self._store = self._store, PrefixStore()
        try:
            yield
        finally:
            self._store = outer

    def _prefill_any(self, encoded: list[list[int]], tail=None):
        """(logits, cache, mask, tokens reused per row): with reuse inside prefix_caching(), else a plain prefill;
        with a `tail` (ttc.generators.hf_branches.Tail) its tokens ride in the same forward."""
        if self._store is None:
            return (*self._prefill(encoded, tail), [0] * len(encoded))
        from ttc.generators.hf_prefix import prefill_reusing

        return prefill_reusing(self, encoded, tail)

    def follow_up(self, text: str) -> str:
        """ChatTurns (ttc.contracts.protocols): a new user turn after the assistant's, in the chat template."""
        return follow_up(self.tokenizer, text)

    def listen(self, fn: Callable[[int, float], None] | None) -> None:
        """Ticking (ttc.contracts.protocols): report tokens and the share of a generate call done as it decodes."""
        self._listener = fn

    def _tell(self, state: "_Rows", max_new: int) -> None:
        """One report to the listener: new tokens of this chunk, and the call's share done so far."""
        base, total, told = self._call
        tokens = sum(len(t) for t in state.tokens)
        done = sum(1.0 if f is not None else len(t) / max(max_new, 1) for f, t in zip(state.finish, state.tokens))
        self._call = (base, total, tokens)
        self._listener(tokens - told, min((base + done) / max(total, 1), 1.0))

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text."""
        return self.tokenizer(text, add_special_tokens=special).input_ids

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

    def _prefill(self, encoded: list[list[int]], tail=None):
        """Read left-padded prompts: (last logits [B, V], cache, mask); with a `tail`, logits [B, 1 + S, V] of the
        last prompt token and the tail's tokens (ttc.generators.hf_branches.feed_tail)."""
        width = max(len(e) for e in encoded)
        if width + 1 > self.card.context:
            raise ConfigError(f"a prompt of {width} tokens does not fit the context of {self.card.context}")
        ids = torch.full((len(encoded), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, e in enumerate(encoded):
            ids[i, width - len(e):] = torch.tensor(e)
            mask[i, width - len(e):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        if tail is not None:
            from ttc.generators.hf_branches import feed_tail

            return (*feed_tail(self, ids, mask, pos, [len(e) for e in encoded], tail, None), mask)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float(), out.past_key_values, mask

    def _generate_chunk(self, encoded: list[list[int]], params: SamplingParams,
                        seeds: list[list[int]], texts: list[str]) -> list[list[Completion]]:
        logits, cache, mask, reused = self._prefill_any(encoded)
        prompt_of = [i for i, s in enumerate(seeds) for _ in s]
        n = len(prompt_of)
        state = _Rows(prompt_of, torch.tensor([x for s in seeds for x in s], dtype=torch.int64),
                      [[] for _ in range(n)], [[] for _ in range(n)], [None] * n, torch.zeros(n, dtype=torch.int64),
                      prompts=texts, reused=reused)
        masks = RegexMasks(self.tokenizer, logits.shape[-1], params.regex, n) if params.regex else None
        idx = torch.tensor(prompt_of, device=self.device)
        cache.batch_select_indices(idx)
        logits, mask = logits[idx], mask[idx]
        pos = torch.tensor([len(encoded[p]) for p in prompt_of], device=self.device)
        max_new = min(params.max_tokens, self.card.context - mask.shape[1])
        growing(cache, min(max_new, RESERVE))  # appends in place from here on (ttc.generators.hf_cache)
        width = mask.shape[1]
        mask = torch.cat([mask, torch.ones((n, max_new), dtype=mask.dtype, device=mask.device)], dim=1)
        alive = torch.arange(n, device=self.device)  # original row ids still in the batch
        for step in range(max_new):
            rows = alive.tolist()
            nxt = choose(masks.apply(logits, rows) if masks else logits, params, state.seeds[alive.cpu()].to(self.device), step)
            if masks:
                masks.advance(rows, nxt.tolist())
            logp = torch.log_softmax(logits, -1)  # the model's own, before any constraint
            lp = logp.gather(-1, nxt[:, None])[:, 0]
            if params.confidence_k:
                conf = -logp.topk(min(params.confidence_k, logp.shape[-1]), -1).values.mean(-1)
                self._confide(state, alive.tolist(), conf.tolist())
            self._record(state, alive.tolist(), nxt.tolist(), lp.tolist(), params, last=step == max_new - 1)
            keep = torch.tensor([state.finish[r] is None for r in alive.tolist()], device=self.device)
            if self._listener is not None and (step % TELL_EVERY == TELL_EVERY - 1 or not keep.any()):
                self._tell(state, max_new)
            if not keep.any():
                break
            if (~keep).float().mean() >= _PRUNE_SHARE:
                sel = keep.nonzero()[:, 0]
                cache.batch_select_indices(sel)
                alive, nxt, mask, pos = alive[sel], nxt[sel], mask[sel], pos[sel]
            state.calls[alive.cpu()] += 1  # one tensor op per step; the waste is derived in hf_records
            out = self.model(input_ids=nxt[:, None], attention_mask=mask[:, :width + step + 1], position_ids=pos[:, None],
                             past_key_values=cache, use_cache=True)
            logits, cache, pos = out.logits[:, -1].float(), out.past_key_values, pos + 1
        return completions(self, encoded, seeds, state, params)

    def _record(self, state: _Rows, rows: list[int], toks: list[int], lps: list[float],
                params: SamplingParams, last: bool) -> None:
        for r, t, lp in zip(rows, toks, lps):
            if state.finish[r] is not None:
                continue  # finished but not yet pruned: its extra tokens are discarded, never counted
            state.tokens[r].append(t)
            state.logprobs[r].append(lp)
            if t == self.eos:
                state.finish[r] = "stop"
            elif params.stop and self._hit_stop(state.tokens[r], params.stop):
                state.finish[r] = "stop"
            elif params.syntax and t in self._line_ends() and syntax_invalid(
                    state.prompts[state.prompt_of[r]], self.tokenizer.decode(state.tokens[r], skip_special_tokens=True),
                    params.syntax):
                state.finish[r] = "invalid"  # no continuation can make this program valid: stop paying for it
            elif last:
                state.finish[r] = "length"

    @staticmethod
    def _confide(state: _Rows, rows: list[int], conf: list[float]) -> None:
        """Append each live row's token confidence (before _record marks rows finished)."""
        if not state.confidence:
            state.confidence.extend([] for _ in state.prompt_of)
        for r, c in zip(rows, conf):
            if state.finish[r] is None:
                state.confidence[r].append(c)

    def _line_ends(self) -> frozenset[int]:
        """Token ids whose text holds a newline (where a syntax check can run), computed once."""
        if getattr(self, "_newline_ids", None) is None:
            vocab = len(self.tokenizer)
            self._newline_ids = frozenset(i for i in range(vocab) if "\n" in self.tokenizer.decode([i]))
        return self._newline_ids

    def _hit_stop(self, tokens: list[int], stops: tuple[str, ...]) -> bool:
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
        pieces = self.__dict__.setdefault("_pieces", {})
        if token not in pieces:
            pieces[token] = self.tokenizer.decode([token])
        return any(s[-1] in pieces[token] for s in stops)

    # ---- scoring ------------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """log p(continuation | prompt), batched with right padding; see ttc.generators.hf_reads."""
        from ttc.generators.hf_reads import score

        return score(self, prompts, continuations)

    def score_branches(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[Scored]]:
        """BranchScorer (ttc.contracts.protocols): each prompt is read once (its KV cache kept), and every
        option is fed from that cache; see ttc.generators.hf_branches."""
        from ttc.generators.hf_branches import score_branches

        return score_branches(self, prompts, options)

    # ---- CoT decoding (ttc.generators.hf_reads) -----------------------------------------------------
    def top_tokens(self, prompts: Sequence[str], k: int) -> tuple[list[list[tuple[str, float]]], list[tuple[int, float]]]:
        """TopTokens (ttc.contracts.protocols): each prompt's k most likely next tokens, from one prefill."""
        from ttc.generators.hf_reads import top_tokens

        return top_tokens(self, prompts, k)

    def answer_margins(self, prompts: Sequence[str], texts: Sequence[str],
                       spans: Sequence[tuple[int, int]]) -> list[tuple[float, int, float]]:
        """AnswerMargins (ttc.contracts.protocols): mean p(top1) - p(top2) over the span's tokens."""
        from ttc.generators.hf_reads import answer_margins

        return answer_margins(self, prompts, texts, spans)

    # ---- beam search ----------------------------------------------------------------------------
    def beam_search(self, prompts: Sequence[str], width: int, max_tokens: int,
                    length_penalty: float = 1.0) -> list[list[Completion]]:
        """Token-level beam search; see ttc.generators.hf_beam."""
        from ttc.generators.hf_beam import beam_search

        return beam_search(self, prompts, width, max_tokens, length_penalty)


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
