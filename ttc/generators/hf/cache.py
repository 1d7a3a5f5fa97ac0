"""A KV cache layer that appends in place: transformers' DynamicLayer concatenates its whole past with every new
token (torch.cat per layer per step: on the tiny models about half the decode time went to copying the cache),
while a GrowingLayer keeps its keys and values as views of a buffer with room to spare and writes each step
into the room. Same numbers, same interface (keys/values [rows, heads, len, head_dim]); knows nothing about
tasks.

Aliasing rule: a buffer is written only beyond the end of the layer's current view, and a view is only ever
extended, so any tensor handed out earlier (a prefix store's reference, a caller's copy of `keys`) never
changes. If anyone replaces `keys` (crop, reorder, batch selection by the base class) or shortens it, the next
append starts a fresh buffer from it.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer

_SPARE = 32  # at least this many slots are added when the buffer grows (and a quarter of what it holds)
RESERVE = 32  # room a decode loop reserves at its start: most samples end early, and rows leave as they finish


class GrowingLayer(DynamicLayer):
    """DynamicLayer with amortised O(1) appends (see the module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._buf: tuple[torch.Tensor, torch.Tensor] | None = None
        self._end = 0  # positions of the buffer written so far (its high-water mark)

    def reserve(self, extra: int) -> None:
        """Make room for `extra` more positions now (one copy), so the next `extra` appends copy nothing."""
        if self.is_initialized and self.keys.numel():
            self._regrow(self.keys.shape[-2] + extra)

    def _owns_view(self) -> bool:
        return (self._buf is not None and self.keys is not None and self.keys.shape[-2] == self._end
                and self.keys.data_ptr() == self._buf[0].data_ptr()
                and self.keys.shape[0] == self._buf[0].shape[0] and self.keys.stride() == self._buf[0].stride()
                and self.values.data_ptr() == self._buf[1].data_ptr())

    def _regrow(self, capacity: int) -> None:
        n = self.keys.shape[-2]
        bk = self.keys.new_empty((*self.keys.shape[:2], capacity, self.keys.shape[3]))
        bv = self.values.new_empty((*self.values.shape[:2], capacity, self.values.shape[3]))
        bk[..., :n, :], bv[..., :n, :] = self.keys, self.values
        self._buf, self._end = (bk, bv), n
        self.keys, self.values = bk[..., :n, :], bv[..., :n, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Append the new positions in place (growing the buffer by a quarter when full)."""
        if not self.is_initialized or self.keys.numel() == 0:
            super().update(key_states, value_states)
            self._buf = None
            return self.keys, self.values
        n, add = self.keys.shape[-2], key_states.shape[-2]
        if not self._owns_view() or n + add > self._buf[0].shape[-2]:
            self._regrow(n + add + max((n + add) // 4, _SPARE))
        bk, bv = self._buf
        bk[..., n:n + add, :], bv[..., n:n + add, :] = key_states, value_states
        self.keys, self.values = bk[..., :n + add, :], bv[..., :n + add, :]
        self._end = n + add
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep the rows `indices`, with the buffer's spare room (one copy of their written positions)."""
        if not self._owns_view():
            return super().batch_select_indices(indices)
        n, bk, bv = self.keys.shape[-2], *self._buf
        rows = indices.numel()
        nk, nv = bk.new_empty((rows, *bk.shape[1:])), bv.new_empty((rows, *bv.shape[1:]))
        torch.index_select(self.keys, 0, indices, out=nk[..., :n, :])  # the written positions only
        torch.index_select(self.values, 0, indices, out=nv[..., :n, :])
        self._buf = (nk, nv)
        self.keys, self.values = nk[..., :n, :], nv[..., :n, :]


def growing(cache, extra: int = 0):
    """The same cache with every plain DynamicLayer replaced by a GrowingLayer holding its tensors, room made for
    `extra` more positions; other layer kinds (sliding windows, static) are left as they are. Returns `cache`."""
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicLayer:
            new = GrowingLayer()
            new.__dict__.update({k: v for k, v in layer.__dict__.items() if k != "_buf"})
            new._buf, new._end = None, 0
            cache.layers[i] = new
            layer = new
        if isinstance(layer, GrowingLayer) and extra:
            layer.reserve(extra)
    return cache
