"""Token selection: truncation adapters and seeded, batch-independent sampling.

Each row carries its own seed. The random numbers for row r at decoding step t come from a counter-based
hash of (seed_r, t, token id), so a sample depends only on its seed and its own logits: the same seed gives
the same text whichever batch, batch order or batch size it is generated in. Sampling uses the Gumbel-max
trick on the truncated, tempered logits, which draws exactly from the renormalised distribution.

Knows nothing about models or tokenizers: tensors in, tensors out.
"""

from __future__ import annotations

import torch

from ttc.contracts.records import SamplingParams

_MASK = 0xFFFFFFFF
_MULT = 0x45D9F3B  # < 2**27, so (x < 2**32) * _MULT fits in int64 without overflow


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (good avalanche), computed in int64 without overflow."""
    x = ((x >> 16) ^ x) * _MULT & _MASK
    x = ((x >> 16) ^ x) * _MULT & _MASK
    return (x >> 16) ^ x


def uniforms(seeds: torch.Tensor, step: int | torch.Tensor, vocab: int) -> torch.Tensor:
    """Uniforms in (0, 1) of shape [rows, vocab], a pure function of (seed, step, token id); `step` is one
    for all rows or one per row."""
    seeds = seeds.to(torch.int64)
    row = _mix(_mix(seeds & _MASK) ^ _mix((seeds >> 32) & _MASK ^ 0x9E3779B9))
    steps = torch.as_tensor(step, dtype=torch.int64, device=row.device).expand_as(row)
    row = _mix(row ^ _mix((steps & _MASK) + 0x632BE5AB))
    tok = _mix(torch.arange(vocab, dtype=torch.int64, device=seeds.device) * 0x9E3779B1 & _MASK)
    bits = _mix(row[:, None] ^ tok[None, :])
    return (bits.to(torch.float64) + 0.5) / 2.0**32


def truncate(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Tempered logits with truncated tokens set to -inf (top-k, top-p, min-p, epsilon, in that order).

    Each adapter sees the distribution renormalised after the previous one; the most likely token is
    never removed.
    """
    out = logits.float() / max(params.temperature, 1e-6)
    neg = torch.finfo(out.dtype).min
    if params.top_k and params.top_k < out.shape[-1]:
        kth = torch.topk(out, params.top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, neg)
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass strictly above each token
        drop_sorted = before >= params.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, neg)
    if params.min_p > 0:
        probs = out.softmax(-1)
        out = out.masked_fill(probs < params.min_p * probs.max(-1, keepdim=True).values, neg)
    if params.epsilon > 0:
        probs = out.softmax(-1)
        keep_top = probs >= probs.max(-1, keepdim=True).values
        out = out.masked_fill((probs < params.epsilon) & ~keep_top, neg)
    return out


def choose(logits: torch.Tensor, params: SamplingParams, seeds: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
    """Next token per row: argmax when temperature is 0, else a seeded draw from the truncated distribution."""
    if params.temperature == 0:
        return logits.argmax(-1)
    return gumbel_draw(truncate(logits, params), seeds, step)


def gumbel_draw(log_weights: torch.Tensor, seeds: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
    """A seeded draw per row from softmax(log_weights) (-inf: never), by the Gumbel-max trick."""
    gumbel = -torch.log(-torch.log(uniforms(seeds, step, log_weights.shape[-1])))
    return (log_weights.double() + gumbel).argmax(-1)
