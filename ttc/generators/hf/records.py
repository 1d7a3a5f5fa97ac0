"""The HF engine's completion records of a decoded batch: each row's text cut at its first stop string, its
token counts (a prompt's later samples count the prompt as cached), its FLOPs from the model card at the
positions actually computed, and the batch's own waste (padding, steps after finishing) booked beside them.
Holds the per-row state a decode loop fills (`Rows`, ttc.generators.hf.decode); knows nothing about decoding itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ttc.contracts.cards import ModelCard
from ttc.contracts.records import Completion, SamplingParams
from ttc.generators.hf.model import HFModel


@dataclass
class Rows:
    """Per-row decoding state of one batch."""

    prompt_of: list[int]
    seeds: torch.Tensor
    tokens: list[list[int]]
    logprobs: list[list[float]]
    finish: list[str | None]
    calls: torch.Tensor | None = None  # decode forwards each row was part of (the rest of its cost is derived)
    shares: torch.Tensor | None = None  # forwards each row was part of, each as 1/rows (its share of the weights)
    confidence: list[list[float]] = field(default_factory=list)  # with params.confidence_k only
    prompts: list[str] = field(default_factory=list)  # the prompts' texts (a syntax check reads prompt + text)
    reused: list[int] = field(default_factory=list)  # per prompt: tokens whose KV came from an earlier call


def _waste(card: ModelCard, plen: int, width: int, generated: int, calls: int) -> tuple[float, float]:
    """(padding, pruned) FLOPs of a row's decode forwards: its g - 1 live steps attend the batch's `width`
    - `plen` padded keys besides its own; steps it took after finishing (not yet pruned) are waste whole."""
    fed = max(generated - 1, 0)
    padding = card.span_flops(width, fed, logits=fed) - card.span_flops(plen, fed, logits=fed)
    extra = calls - fed
    return padding, card.span_flops(width + fed, extra, logits=extra)


def completions(lm: HFModel, encoded: list[list[int]], seeds: list[list[int]], state: Rows,
                params: SamplingParams) -> list[list[Completion]]:
    """One batch's Completion records, per prompt: text cut at the first stop string, token counts (a prompt's
    later samples count it as cached), FLOPs, and the padding and pruning waste booked beside them."""
    out: list[list[Completion]] = [[] for _ in seeds]
    for r, p in enumerate(state.prompt_of):
        toks = state.tokens[r]
        text, stop_reason = lm.text_of(toks, params.stop)
        j, plen = len(out[p]), len(encoded[p])
        cached = plen if j > 0 else state.reused[p]
        prompt_flops, flops = lm.card.generation_flops(plen, cached, len(toks))
        padding, pruned = _waste(lm.card, plen, max(len(e) for e in encoded), len(toks), int(state.calls[r]))
        if j == 0:  # the prompt row of the prefill, padded to the batch's width
            fresh = max(len(e) - r for e, r in zip(encoded, state.reused))
            padding += lm.card.span_flops(max(state.reused), fresh, logits=1) - prompt_flops
        out[p].append(Completion(
            index=j, seed=int(seeds[p][j]), text=text, prompt_tokens=plen, cached_tokens=cached,
            generated_tokens=len(toks), logprob=float(sum(state.logprobs[r])),
            finish_reason=state.finish[r] or "length", flops=flops, prompt_flops=prompt_flops,
            kv_bytes=lm.card.generation_kv_bytes(plen, len(toks), lm.kv_element),
            weight_bytes=float(state.shares[r]) * lm.weight_bytes if state.shares is not None else 0.0,
            token_logprobs=tuple(state.logprobs[r]), stop_reason=stop_reason,
            token_confidence=tuple(state.confidence[r]) if state.confidence else (),
            padding_flops=padding, pruned_flops=pruned,
        ))
    return out
