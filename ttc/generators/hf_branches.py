"""Branch scoring for the HF generator (BranchScorer): each prompt is read once and every option is scored from
the same forward, the options' later tokens side by side after it under a 4D mask (a tail). Knows nothing about
tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Scored
from ttc.generators.hf import token_chunks


@torch.inference_mode()
def score_branches(gen, prompts: Sequence[str], options: Sequence[str]) -> list[list[Scored]]:
    """BranchScorer (ttc.contracts.protocols): each prompt is read once (its KV cache kept), and every
    option is fed from that cache; the prompt's tokens and FLOPs are on the first option's Scored."""
    encoded = [gen.encode(p) for p in prompts]
    if gen._store is not None:
        gen._store.begin_call()
    opts = [gen.encode(o, special=False) for o in options]
    if not opts or any(not o for o in opts):
        raise ConfigError(f"score_branches: an option encodes to no tokens ({options!r})")
    out: list[list[Scored]] = []
    segment = sum(len(o) - 1 for o in opts)  # the options' later tokens ride after each prompt, side by side
    # a chunk is bounded by the tokens its forwards read fresh: a prefix found in the store is KV, not activations
    fresh = [len(e) - (gen._store.lookup(e)[1] if gen._store is not None else 0) for e in encoded]
    for start, stop in token_chunks([f + segment for f in fresh], gen.max_rows, gen.max_tokens):
        out.extend(_branch_chunk(gen, encoded[start:stop], opts))
    return out

def _branch_chunk(gen, encoded: list[list[int]], opts: list[list[int]]) -> list[list[Scored]]:
    tail = Tail.of(opts)
    logits, _, _, reused = gen._prefill_any(encoded, tail if tail.ids else None)
    logp = torch.log_softmax(logits if tail.ids else logits[:, None], -1)  # [B, 1 + S, V]
    out = []
    for r, e in enumerate(encoded):
        row = []
        for j, o in enumerate(opts):
            at = [0] + [1 + tail.starts[j] + t for t in range(len(o) - 1)]  # where each of o's tokens is predicted
            lps = [float(logp[r, a, t]) for a, t in zip(at, o)]
            fed = len(o) - 1
            flops = gen.card.span_flops(len(e), fed, logits=fed)
            tokens, cached = len(o), 0
            if j == 0:  # the prompt, read once for all options (less what an earlier call had read)
                cached = reused[r]
                flops += gen.card.span_flops(cached, len(e) - cached, logits=1)
                tokens += len(e) - cached
            row.append(Scored(logprob=sum(lps), tokens=tokens, flops=flops, token_logprobs=tuple(lps),
                              cached_tokens=cached))
        out.append(row)
    return out


@dataclass(frozen=True)
class Tail:
    """The options' tokens but their last, side by side (`ids`), each option starting at `starts[j]`;
    `own[s, t]`: tail token s may see tail token t (an earlier token of its own option); `offsets`: each
    token's position after the prompt's end."""

    ids: tuple[int, ...]
    starts: tuple[int, ...]
    own: torch.Tensor
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, opts: list[list[int]]) -> "Tail":
        starts, seg = [], []
        for o in opts:
            starts.append(len(seg))
            seg.extend(o[:-1])
        own = torch.zeros((len(seg), len(seg)), dtype=torch.bool)
        for o, a in zip(opts, starts):
            n = len(o) - 1
            own[a:a + n, a:a + n] = torch.tril(torch.ones((n, n), dtype=torch.bool))
        return cls(tuple(seg), tuple(starts), own, tuple(t for o in opts for t in range(len(o) - 1)))


def feed_tail(gen, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, ends: list[int], tail: Tail, cache):
    """One forward over each row's fresh tokens `ids` [B, n] (the last n key columns of `mask` [B, W], which
    also marks any valid past in `cache`) followed by the tail: fresh tokens are causal as usual, tail tokens
    see the row's whole valid prompt and their own option's earlier tokens, under one 4D mask (a padded query
    sees itself, so no attention row is empty). Returns (logits [B, 1 + S, V] of the last fresh token and of
    the tail, cache)."""
    rows, width = mask.shape
    n, size, dev = ids.shape[1], len(tail.ids), gen.device
    valid = mask.bool()
    cols = torch.arange(width, device=dev)
    causal = cols[None, :] <= torch.arange(width - n, width, device=dev)[:, None]  # [n, W]
    top = valid[:, None, :] & causal[None]
    top[:, torch.arange(n, device=dev), torch.arange(width - n, width, device=dev)] = True
    top = torch.cat([top, torch.zeros((rows, n, size), dtype=torch.bool, device=dev)], -1)
    bottom = torch.cat([valid[:, None, :].expand(rows, size, width),
                        tail.own.to(dev)[None].expand(rows, size, size)], -1)
    full = torch.cat([top, bottom], 1)[:, None]
    tail_pos = torch.tensor(ends, device=dev)[:, None] + torch.tensor(tail.offsets, device=dev)[None, :]
    out = gen.model(input_ids=torch.cat([ids, torch.tensor([tail.ids] * rows, device=dev)], 1), attention_mask=full,
                    position_ids=torch.cat([pos, tail_pos], 1), past_key_values=cache, use_cache=True,
                    logits_to_keep=size + 1)
    return out.logits.float(), out.past_key_values
