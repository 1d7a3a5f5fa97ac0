"""Branch scoring on the HF engine (BranchScorer): each prompt is read once and every option is scored from the
same forward, the options' later tokens side by side after it under a 4D mask (a tail, ttc.generators.hf.tail).
Knows nothing about tasks.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Scored
from ttc.generators.hf.batch import token_chunks
from ttc.generators.hf.model import HFModel
from ttc.generators.hf.prefix import PrefixStore, prefill_any
from ttc.generators.hf.tail import Tail


@torch.inference_mode()
def score_branches(lm: HFModel, store: PrefixStore | None, prompts: Sequence[str],
                   options: Sequence[str]) -> list[list[Scored]]:
    """BranchScorer (ttc.contracts.protocols): each prompt is read once (its KV cache kept, reusing what `store`
    holds), and every option is fed from that cache; the prompt's tokens and FLOPs are on the first option's Scored."""
    encoded = [lm.encode(p) for p in prompts]
    if store is not None:
        store.begin_call()
    opts = [lm.encode(o, special=False) for o in options]
    if not opts or any(not o for o in opts):
        raise ConfigError(f"score_branches: an option encodes to no tokens ({options!r})")
    out: list[list[Scored]] = []
    segment = sum(len(o) - 1 for o in opts)  # the options' later tokens ride after each prompt, side by side
    # a chunk is bounded by the tokens its forwards read fresh: a prefix found in the store is KV, not activations
    fresh = [len(e) - (store.lookup(e)[1] if store is not None else 0) for e in encoded]
    for start, stop in token_chunks([f + segment for f in fresh], lm.max_rows, lm.max_tokens):
        out.extend(_branch_chunk(lm, store, encoded[start:stop], opts))
    return out


def _branch_chunk(lm: HFModel, store: PrefixStore | None, encoded: list[list[int]],
                  opts: list[list[int]]) -> list[list[Scored]]:
    tail = Tail.of(opts)
    logits, _, _, reused = prefill_any(lm, store, encoded, tail if tail.ids else None)
    logp = torch.log_softmax(logits if tail.ids else logits[:, None], -1)  # [B, 1 + S, V]
    out = []
    for r, e in enumerate(encoded):
        row = []
        for j, o in enumerate(opts):
            at = [0] + [1 + tail.starts[j] + t for t in range(len(o) - 1)]  # where each of o's tokens is predicted
            lps = [float(logp[r, a, t]) for a, t in zip(at, o)]
            fed = len(o) - 1
            flops = lm.card.span_flops(len(e), fed, logits=fed)
            tokens, cached = len(o), 0
            if j == 0:  # the prompt, read once for all options (less what an earlier call had read)
                cached = reused[r]
                flops += lm.card.span_flops(cached, len(e) - cached, logits=1)
                tokens += len(e) - cached
            row.append(Scored(logprob=sum(lps), tokens=tokens, flops=flops, token_logprobs=tuple(lps),
                              cached_tokens=cached))
        out.append(row)
    return out
