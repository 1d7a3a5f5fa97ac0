"""The in-place KV cache layer (ttc.generators.hf_cache): the same logits as transformers' concatenating cache,
no tensor handed out earlier ever changes, and appends stop copying once room is reserved."""

import torch
from transformers import DynamicCache

from ttc.generators.hf.cache import GrowingLayer, growing


def _decode(model, ids, cache, steps):
    """Greedy-feed `steps` tokens one at a time; every step's logits."""
    out = model(input_ids=ids, past_key_values=cache, use_cache=True)
    logits, seen = [out.logits[:, -1]], ids.shape[1]
    for _ in range(steps):
        nxt = logits[-1].argmax(-1, keepdim=True)
        seen += 1
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True,
                    attention_mask=torch.ones((ids.shape[0], seen), dtype=torch.long))
        logits.append(out.logits[:, -1])
    return torch.stack(logits)


@torch.inference_mode()
def test_growing_cache_gives_the_concatenating_cache_logits_and_never_changes_old_views(small, arith_prompts):
    ids = torch.tensor([small.encode(arith_prompts[0])] * 3)
    plain = _decode(small.model, ids, DynamicCache(), 25)
    cache = DynamicCache()
    small.model(input_ids=ids, past_key_values=cache, use_cache=True)
    growing(cache, 8)  # room for 8: the rest of the 25 appends must grow the buffer on their own
    assert all(isinstance(layer, GrowingLayer) for layer in cache.layers)
    held = cache.layers[0].keys
    snapshot = held.clone()
    tail = _decode_from(small.model, cache, plain[0].argmax(-1, keepdim=True), ids.shape[1], 25)
    assert torch.allclose(torch.cat([plain[:1], tail]), plain, atol=1e-5)
    assert torch.equal(held, snapshot)  # an earlier reference was never written through
    assert cache.layers[0].keys.shape[-2] == ids.shape[1] + 25


def _decode_from(model, cache, first, seen, steps):
    logits, nxt = [], first
    for _ in range(steps):
        seen += 1
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True,
                    attention_mask=torch.ones((first.shape[0], seen), dtype=torch.long))
        logits.append(out.logits[:, -1])
        nxt = logits[-1].argmax(-1, keepdim=True)
    return torch.stack(logits)


def test_reserved_room_means_appends_copy_nothing_and_selection_keeps_rows():
    layer = GrowingLayer()
    k = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(2, 1, 3, 2)
    layer.update(k, -k)
    layer.reserve(4)
    base = layer.keys.data_ptr()
    for t in range(4):
        new = torch.full((2, 1, 1, 2), 100.0 + t)
        keys, values = layer.update(new, -new)
        assert keys.data_ptr() == base  # written into the reserved room, not copied
    assert keys.shape == (2, 1, 7, 2) and torch.equal(keys[:, :, :3], k) and torch.equal(values, -keys)
    assert keys[1, 0, 6, 0] == 103.0
    layer.batch_select_indices(torch.tensor([1]))
    assert torch.equal(layer.keys[0, 0, :3], k[1, 0])
    before = layer.keys
    layer.crop(-2)  # the base class slices the view: the next append must not write into `before`'s positions
    cropped = layer.keys
    layer.update(torch.zeros((1, 1, 1, 2)), torch.zeros((1, 1, 1, 2)))
    assert layer.keys.shape[-2] == 6 and torch.equal(layer.keys[:, :, :5], cropped)
    assert before[0, 0, 5, 0] == 102.0 and layer.keys[0, 0, 5, 0] == 0.0
