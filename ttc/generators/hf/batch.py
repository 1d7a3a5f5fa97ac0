"""Batch layout of the HF engine: token-bounded chunks of a call, and padded (ids, mask) tensors of token lists.
Lists in, CPU tensors out; knows nothing about models.
"""

from __future__ import annotations

from typing import Sequence

import torch


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


def left_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) [rows, longest], each row's tokens ending at the last column (padding masked out)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def right_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) [rows, longest], each row's tokens starting at the first column (padding masked out)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
    return ids, mask
