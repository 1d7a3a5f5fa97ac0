"""Cross-call prefix reuse for the HF engine: the KV of every sequence read by the last calls, found again by
its token prefix, so a step search's next round reads only what is new (its newest step and the verdict cue).

Scope: only inside `HFGenerator.prefix_caching()` (a strategy's run: ttc.strategies.common.prefix_caching), so a
run's numbers never depend on what an earlier batch left behind (resumed runs stay bit-identical). Entries live
for two top-level calls (the previous call's sequences and the current one's); a hit is checked token for token,
and at least the last token of a sequence is always read fresh (its next-token distribution is needed).
The batch is laid out [padding | reused past | padding | fresh tokens], every row ending at the last column, with
the padding masked and true positions given, so one forward serves ragged hits. Rows of one call that share a
long prefix nobody has read yet (a search's first round: every candidate of a problem repeats its prompt) get it
read once first, as its own entry, and then reuse it; one row per prefix is booked for reading it. Knows nothing about tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache

from ttc.generators.hf.model import HFModel
from ttc.generators.hf.tail import Tail, feed_tail

_P, _M = 1_000_003, (1 << 61) - 1  # polynomial rolling hash of token prefixes
SHARED_MIN = 16  # a prefix shared within one call is read on its own first when it saves at least this many
SHARED_GAIN = 2 / 3  # ... and the padded tokens the call reads fall below this share


@dataclass(frozen=True)
class _Entry:
    """One sequence: its token ids and where its KV lies in a batch's per-layer (keys, values) [rows, heads,
    len, head_dim]: row `row`, positions `spans` in order (no copy is made until a later call reuses it)."""

    ids: tuple[int, ...]
    source: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    row: int
    spans: tuple[tuple[int, int], ...]


def _prefix_hashes(ids) -> list[int]:
    out, h = [], 0
    for t in ids:
        h = (h * _P + int(t) + 1) % _M
        out.append(h)
    return out


class PrefixStore:
    """Entries of the current and the previous top-level call, indexed by every prefix's hash."""

    def __init__(self) -> None:
        self.previous: dict[int, tuple[_Entry, int]] = {}
        self.current: dict[int, tuple[_Entry, int]] = {}

    def begin_call(self) -> None:
        """A new top-level call: what the call before the last one stored is dropped."""
        self.previous, self.current = self.current, {}

    def lookup(self, ids: list[int]) -> tuple[_Entry | None, int]:
        """The stored sequence sharing the longest prefix with `ids` (at most len(ids) - 1 tokens) and its length."""
        hashes = _prefix_hashes(ids[:-1])
        for j in range(len(hashes), 0, -1):
            for index in (self.current, self.previous):
                hit = index.get(hashes[j - 1])
                if hit is not None and hit[0].ids[:j] == tuple(ids[:j]):
                    return hit[0], j
        return None, 0

    def add(self, ids: list[int], source, row: int, spans: tuple[tuple[int, int], ...]) -> None:
        """Store one sequence (where its KV lies) under every prefix of it."""
        entry = _Entry(tuple(ids), source, row, spans)
        for j, h in enumerate(_prefix_hashes(ids), 1):
            self.current[h] = (entry, j)


def prefill_any(lm: HFModel, store: PrefixStore | None, encoded: list[list[int]], tail: Tail | None = None):
    """(logits, cache, mask, tokens reused per row): with reuse from `store` (inside prefix_caching()), else
    `lm.prefill`; with a `tail` (ttc.generators.hf.tail.Tail) its tokens ride in the same forward."""
    if store is None:
        return (*lm.prefill(encoded, tail), [0] * len(encoded))
    return prefill_reusing(lm, store, encoded, tail)


def prefill_reusing(lm: HFModel, store: PrefixStore, encoded: list[list[int]], tail: Tail | None = None,
                    share: bool = True) -> tuple[torch.Tensor, DynamicCache, torch.Tensor, list[int]]:
    """`HFModel.prefill` with reuse from `store`: (last logits, cache, mask, tokens reused per row); every
    row's whole KV (never the tail's) is stored afterwards for the next calls."""
    before = [store.lookup(e)[1] for e in encoded]
    shared, payers = _shared_prefixes(encoded, before) if share else ([], set())
    if shared:  # prefixes several rows share, unseen before this call: read once, then reused like any entry
        prefill_reusing(lm, store, shared, share=False)
    hits = [store.lookup(e) for e in encoded]
    reused = [j for _, j in hits]
    booked = [before[i] if i in payers else j for i, j in enumerate(reused)]  # each shared read paid once
    if not any(reused):
        logits, cache, mask = lm.prefill(encoded, tail)
        _store_rows(store, encoded, cache, mask.shape[1], [0] * len(encoded), [mask.shape[1]] * len(encoded))
        return logits, cache, mask, booked
    return (*_read_after_past(lm, store, encoded, hits, tail), booked)


def _read_after_past(lm: HFModel, store: PrefixStore, encoded: list[list[int]], hits: list[tuple[_Entry | None, int]],
                     tail: Tail | None) -> tuple[torch.Tensor, DynamicCache, torch.Tensor]:
    """One forward of each row's fresh tokens after its reused past (copied out of the entries `hits`), laid out
    [padding | past | padding | fresh]; (logits, cache, mask), every row's KV stored for the next calls."""
    reused = [j for _, j in hits]
    past_w = max(reused)
    fresh = [len(e) - j for e, j in zip(encoded, reused)]
    new_w = max(fresh)
    rows = len(encoded)
    ids = torch.full((rows, new_w), lm.pad, dtype=torch.long)
    mask = torch.zeros((rows, past_w + new_w), dtype=torch.long)
    pos = torch.zeros((rows, new_w), dtype=torch.long)
    for i, (e, j, f) in enumerate(zip(encoded, reused, fresh)):
        ids[i, new_w - f:] = torch.tensor(e[j:])
        mask[i, past_w - j: past_w] = 1
        mask[i, past_w + new_w - f:] = 1
        pos[i, new_w - f:] = torch.arange(j, j + f)
    cache = _gather_past(hits, past_w)
    mask, ids, pos = mask.to(lm.device), ids.to(lm.device), pos.to(lm.device)
    if tail is not None:
        logits, cache = feed_tail(lm.model, ids, mask, pos, [len(e) for e in encoded], tail, cache)
    else:
        out = lm.model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True,
                       logits_to_keep=1)
        logits, cache = out.logits[:, -1].float(), out.past_key_values
    _store_rows(store, encoded, cache, past_w + new_w, [past_w - j for j in reused], [new_w - f for f in fresh], past_w)
    return logits, cache, mask


def _gather_past(hits: list[tuple[_Entry | None, int]], past_w: int) -> DynamicCache:
    """A cache of each row's reused past, right-aligned in `past_w` positions (zeros before it)."""
    rows, cache = len(hits), DynamicCache()
    template = next(entry for entry, j in hits if j).source
    for layer, (k0, v0) in enumerate(template):
        keys = k0.new_zeros((rows, k0.shape[1], past_w, k0.shape[3]))
        values = v0.new_zeros((rows, v0.shape[1], past_w, v0.shape[3]))
        for b, (entry, j) in enumerate(hits):
            at, left = past_w - j, j
            src_k, src_v = entry.source[layer] if j else (None, None)
            for start, stop in (entry.spans if j else ()):
                take = min(stop - start, left)
                keys[b, :, at:at + take] = src_k[entry.row, :, start:start + take]
                values[b, :, at:at + take] = src_v[entry.row, :, start:start + take]
                at, left = at + take, left - take
                if not left:
                    break
        cache.update(keys, values, layer)
    return cache


def _shared_prefixes(encoded: list[list[int]], before: list[int]) -> tuple[list[list[int]], set[int]]:
    """Prefixes to read before the call's rows, and the rows that pay for them. Rows in sorted order fall into
    runs whose neighbours share at least SHARED_MIN tokens beyond what the store already holds; a run's common
    prefix (less the last token, so every row still reads one) is read once, booked to the run's first row (its
    ledger shows the prefix read fresh, the others' as reused). Runs are disjoint, so no token is paid twice.
    Only worth a forward of its own when the padded tokens the call reads fall below SHARED_GAIN."""
    order = sorted(range(len(encoded)), key=lambda i: encoded[i])

    def common(x: list[int], y: list[int]) -> int:
        return next((k for k, (s, t) in enumerate(zip(x, y)) if s != t), min(len(x), len(y)))

    runs, run, shared = [], [order[0]], len(encoded[order[0]]) - 1
    for a, b in zip(order, order[1:]):
        n = min(common(encoded[a], encoded[b]), shared, len(encoded[b]) - 1)
        if n - max(before[a], before[b]) >= SHARED_MIN:
            run, shared = run + [b], n
            continue
        runs.append((run, shared))
        run, shared = [b], len(encoded[b]) - 1
    runs.append((run, shared))
    keep = [(r, n) for r, n in runs if len(r) > 1 and n - max(before[i] for i in r) >= SHARED_MIN]
    if not keep:
        return [], set()
    after = [len(e) - h for e, h in zip(encoded, before)]
    for r, n in keep:
        for i in r:
            after[i] = len(encoded[i]) - n
    first = len(keep) * max(n - before[r[0]] for r, n in keep)
    widest = max(len(e) - h for e, h in zip(encoded, before))
    if first + len(encoded) * max(after) > SHARED_GAIN * len(encoded) * widest:
        return [], set()
    return [encoded[r[0]][:n] for r, n in keep], {r[0] for r, _ in keep}


def _store_rows(store: PrefixStore, encoded: list[list[int]], cache, width: int, past_start: list[int],
                new_start: list[int], past_w: int = 0) -> None:
    """Each row's valid KV (its reused past, then its fresh tokens) into the store, by reference."""
    source = tuple((layer.keys, layer.values) for layer in cache.layers)
    for i, e in enumerate(encoded):
        spans = (((past_start[i], past_w), (past_w + new_start[i], width)) if past_w
                 else ((width - len(e), width),))
        store.add(e, source, i, spans)
