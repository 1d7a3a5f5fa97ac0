"""A tail: several options' tokens read side by side after a prompt in the prompt's own forward, under a 4D mask
(branch scoring, ttc.generators.hf.branches). Knows nothing about tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


def feed_tail(model, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, ends: list[int], tail: Tail, cache):
    """One forward of `model` over each row's fresh tokens `ids` [B, n] (the last n key columns of `mask` [B, W],
    which also marks any valid past in `cache`) followed by the tail: fresh tokens are causal as usual, tail tokens
    see the row's whole valid prompt and their own option's earlier tokens, under one 4D mask (a padded query
    sees itself, so no attention row is empty). All tensors on the model's device. Returns (logits [B, 1 + S, V]
    of the last fresh token and of the tail, cache)."""
    rows, width = mask.shape
    n, size, dev = ids.shape[1], len(tail.ids), ids.device
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
    out = model(input_ids=torch.cat([ids, torch.tensor([tail.ids] * rows, device=dev)], 1), attention_mask=full,
                position_ids=torch.cat([pos, tail_pos], 1), past_key_values=cache, use_cache=True,
                logits_to_keep=size + 1)
    return out.logits.float(), out.past_key_values
