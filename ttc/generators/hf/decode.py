"""Batched sampling on the HF engine: each prompt's prefill (ttc.generators.hf.prefix.prefill_any) is copied to
its n sample rows, so samples 2..n count their prompt as cached tokens; every row then decodes one token per
forward with its own seed (ttc.generators.hf.sampling), and rows that finish are pruned from the batch so they stop
costing decode steps. Each row is booked 1/rows of every forward it is part of (its share of the weights read:
the batch's prefill counts as one forward over every row; a call that first reads prefixes several prompts share
runs one more prefill forward, not booked). The cache appends in place (ttc.generators.hf.cache); the records and
their FLOPs are ttc.generators.hf.records'. Knows nothing about tasks, strategies or configs.
"""

from __future__ import annotations

from typing import Callable

import torch

from ttc.contracts.records import Completion, SamplingParams
from ttc.generators.constraints import RegexMasks, syntax_invalid
from ttc.generators.hf.cache import RESERVE, growing
from ttc.generators.hf.model import HFModel
from ttc.generators.hf.records import Rows, completions
from ttc.generators.hf.sampling import choose

TELL_EVERY = 8  # decode steps between progress reports to a listener (Ticking)
_PRUNE_SHARE = 0.125  # prune finished rows once they are this share of the batch


def decode(lm: HFModel, prefilled: tuple, encoded: list[list[int]], params: SamplingParams, seeds: list[list[int]],
           texts: list[str], tell: Callable[[Rows, int], None] | None = None) -> list[list[Completion]]:
    """len(seeds[i]) completions of each prompt `encoded[i]` (text `texts[i]`) from `prefilled`, its (logits, cache,
    mask, tokens reused per prompt); `tell(state, max_new)` is called every TELL_EVERY steps and at the end."""
    n = sum(len(s) for s in seeds)
    masks = RegexMasks(lm.tokenizer, prefilled[0].shape[-1], params.regex, n) if params.regex else None
    state, logits, cache, mask, pos = _start(prefilled, encoded, seeds, texts, lm.device)
    max_new = min(params.max_tokens, lm.card.context - mask.shape[1])
    growing(cache, min(max_new, RESERVE))  # appends in place from here on (ttc.generators.hf.cache)
    width = mask.shape[1]
    mask = torch.cat([mask, torch.ones((n, max_new), dtype=mask.dtype, device=mask.device)], dim=1)
    alive = torch.arange(n, device=lm.device)  # original row ids still in the batch
    for step in range(max_new):
        rows = alive.tolist()
        nxt = choose(masks.apply(logits, rows) if masks else logits, params, state.seeds[alive.cpu()].to(lm.device), step)
        if masks:
            masks.advance(rows, nxt.tolist())
        _take(lm, state, rows, logits, nxt, params, last=step == max_new - 1)
        keep = torch.tensor([state.finish[r] is None for r in alive.tolist()], device=lm.device)
        if tell is not None and (step % TELL_EVERY == TELL_EVERY - 1 or not keep.any()):
            tell(state, max_new)
        if not keep.any():
            break
        if (~keep).float().mean() >= _PRUNE_SHARE:
            sel = keep.nonzero()[:, 0]
            cache.batch_select_indices(sel)
            alive, nxt, mask, pos = alive[sel], nxt[sel], mask[sel], pos[sel]
        state.calls[alive.cpu()] += 1  # one tensor op per step; the waste is derived in ttc.generators.hf.records
        state.shares[alive.cpu()] += 1.0 / len(alive)
        out = lm.model(input_ids=nxt[:, None], attention_mask=mask[:, :width + step + 1], position_ids=pos[:, None],
                       past_key_values=cache, use_cache=True)
        logits, cache, pos = out.logits[:, -1].float(), out.past_key_values, pos + 1
    return completions(lm, encoded, seeds, state, params)


def _start(prefilled: tuple, encoded: list[list[int]], seeds: list[list[int]], texts: list[str],
           device: torch.device) -> tuple[Rows, torch.Tensor, object, torch.Tensor, torch.Tensor]:
    """(empty Rows, logits, cache, mask, next positions), each prompt's prefill copied to its sample rows."""
    logits, cache, mask, reused = prefilled
    prompt_of = [i for i, s in enumerate(seeds) for _ in s]
    n = len(prompt_of)
    state = Rows(prompt_of, torch.tensor([x for s in seeds for x in s], dtype=torch.int64),
                 [[] for _ in range(n)], [[] for _ in range(n)], [None] * n, torch.zeros(n, dtype=torch.int64),
                 shares=torch.full((n,), 1.0 / n, dtype=torch.float64), prompts=texts, reused=reused)
    idx = torch.tensor(prompt_of, device=device)
    cache.batch_select_indices(idx)
    pos = torch.tensor([len(encoded[p]) for p in prompt_of], device=device)
    return state, logits[idx], cache, mask[idx], pos


def _take(lm: HFModel, state: Rows, rows: list[int], logits: torch.Tensor, nxt: torch.Tensor,
          params: SamplingParams, last: bool) -> None:
    """Append each live row's token with the model's own log-probability (before any constraint) and, with
    params.confidence_k, its confidence (the negated mean top-k log-probability)."""
    logp = torch.log_softmax(logits, -1)
    lp = logp.gather(-1, nxt[:, None])[:, 0]
    if params.confidence_k:
        conf = -logp.topk(min(params.confidence_k, logp.shape[-1]), -1).values.mean(-1)
        _confide(state, rows, conf.tolist())
    _record(lm, state, rows, nxt.tolist(), lp.tolist(), params, last)


def _record(lm: HFModel, state: Rows, rows: list[int], toks: list[int], lps: list[float],
            params: SamplingParams, last: bool) -> None:
    for r, t, lp in zip(rows, toks, lps):
        if state.finish[r] is not None:
            continue  # finished but not yet pruned: its extra tokens are discarded, never counted
        state.tokens[r].append(t)
        state.logprobs[r].append(lp)
        if t == lm.eos:
            state.finish[r] = "stop"
        elif params.stop and lm.hit_stop(state.tokens[r], params.stop):
            state.finish[r] = "stop"
        elif params.syntax and t in lm.line_ends() and syntax_invalid(
                state.prompts[state.prompt_of[r]], lm.tokenizer.decode(state.tokens[r], skip_special_tokens=True),
                params.syntax):
            state.finish[r] = "invalid"  # no continuation can make this program valid: stop paying for it
        elif last:
            state.finish[r] = "length"


def _confide(state: Rows, rows: list[int], conf: list[float]) -> None:
    """Append each live row's token confidence (before _record marks rows finished)."""
    if not state.confidence:
        state.confidence.extend([] for _ in state.prompt_of)
    for r, c in zip(rows, conf):
        if state.finish[r] is None:
            state.confidence[r].append(c)
