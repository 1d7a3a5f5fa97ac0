"""Branch scoring for the HF generator (BranchScorer): each prompt is read once and every option is scored from
its cache, the options' later tokens side by side in one segment under a 4D mask. Knows nothing about tasks.
"""

from __future__ import annotations

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
    for start, stop in token_chunks([len(e) + segment for e in encoded], gen.max_rows, gen.max_tokens):
        out.extend(_branch_chunk(gen, encoded[start:stop], opts))
    return out

def _branch_chunk(gen, encoded: list[list[int]], opts: list[list[int]]) -> list[list[Scored]]:
    first_logits, cache, mask, reused = gen._prefill_any(encoded)
    first = torch.log_softmax(first_logits, -1)  # [B, V]: each option's first token
    longest = max(len(o) for o in opts)
    later, starts = None, []
    if longest > 1:  # the options' other tokens, side by side in one segment read from the prompt's cache
        later, starts = _option_segment(gen, encoded, opts, cache, mask)
    out = []
    for r, e in enumerate(encoded):
        row = []
        for j, o in enumerate(opts):
            lps = [float(first[r, o[0]])]
            lps += [float(later[r, starts[j] + t, o[t + 1]]) for t in range(len(o) - 1)] if later is not None else []
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

def _option_segment(gen, encoded: list[list[int]], opts: list[list[int]], cache, mask: torch.Tensor):
    """Log-probabilities after each option's tokens but its last, for every row, from one forward: the options
    sit side by side in one segment after the prompt, and a 4D mask lets each token see the prompt and its own
    option's earlier tokens only (no copy of the prompt's cache per option). (logp [B, S, V], option starts)"""
    starts, seg = [], []
    for o in opts:
        starts.append(len(seg))
        seg.extend(o[:-1])
    width, size = mask.shape[1], len(seg)
    own = torch.zeros((size, size), dtype=torch.bool)
    for o, a in zip(opts, starts):
        n = len(o) - 1
        own[a:a + n, a:a + n] = torch.tril(torch.ones((n, n), dtype=torch.bool))
    past = mask.bool()[:, None, None, :].expand(-1, 1, size, width)
    full = torch.cat([past, own.to(gen.device)[None, None].expand(len(encoded), 1, size, size)], dim=-1)
    offsets = torch.tensor([t for o in opts for t in range(len(o) - 1)], device=gen.device)
    pos = torch.tensor([len(e) for e in encoded], device=gen.device)[:, None] + offsets[None, :]
    ids = torch.tensor([seg] * len(encoded), dtype=torch.long, device=gen.device)
    logits = gen.model(input_ids=ids, attention_mask=full, position_ids=pos, past_key_values=cache,
                        use_cache=True).logits.float()
    return torch.log_softmax(logits, -1), starts
