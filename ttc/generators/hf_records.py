"""The HF generator's completion records of a decoded batch: each row's text cut at its first stop string,
its token counts (a prompt's later samples count the prompt as cached), its FLOPs from the model card at the
positions actually computed, and the batch's own waste (padding, steps after finishing) booked beside them.
Knows nothing about decoding itself (ttc.generators.hf).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ttc.contracts.cards import ModelCard
from ttc.contracts.records import Completion, SamplingParams

if TYPE_CHECKING:
    from ttc.generators.hf import HFGenerator, _Rows


def _waste(card: ModelCard, plen: int, width: int, generated: int, calls: int) -> tuple[float, float]:
    """(padding, pruned) FLOPs of a row's decode forwards: its g - 1 live steps attend the batch's `width`
    - `plen` padded keys besides its own; steps it took after finishing (not yet pruned) are waste whole."""
    fed = max(generated - 1, 0)
    padding = card.span_flops(width, fed, logits=fed) - card.span_flops(plen, fed, logits=fed)
    extra = calls - fed
    return padding, card.span_flops(width + fed, extra, logits=extra)


def completions(gen: "HFGenerator", encoded: list[list[int]], seeds: list[list[int]], state: "_Rows",
                params: SamplingParams) -> list[list[Completion]]:
    """One batch's Completion records, per prompt: text cut at the first stop string, token counts (a prompt's
    later samples count it as cached), FLOPs, and the padding and pruning waste booked beside them."""
    out: list[list[Completion]] = [[] for _ in seeds]
    for r, p in enumerate(state.prompt_of):
        toks = state.tokens[r]
        body = toks[:-1] if toks and toks[-1] == gen.eos else toks
        text = gen.tokenizer.decode(body, skip_special_tokens=True)
        hits = [(text.index(s), s) for s in params.stop if s in text]
        stop_reason = min(hits)[1] if hits else None
        text = text[: min(hits)[0]] if hits else text
        j, plen = len(out[p]), len(encoded[p])
        cached = plen if j > 0 else state.reused[p]
        prompt_flops, flops = gen.card.generation_flops(plen, cached, len(toks))
        padding, pruned = _waste(gen.card, plen, max(len(e) for e in encoded), len(toks), int(state.calls[r]))
        if j == 0:  # the prompt row of the prefill, padded to the batch's width
            fresh = max(len(e) - r for e, r in zip(encoded, state.reused))
            padding += gen.card.span_flops(max(state.reused), fresh, logits=1) - prompt_flops
        out[p].append(Completion(
            index=j, seed=int(seeds[p][j]), text=text, prompt_tokens=plen, cached_tokens=cached,
            generated_tokens=len(toks), logprob=float(sum(state.logprobs[r])),
            finish_reason=state.finish[r] or "length", flops=flops, prompt_flops=prompt_flops,
            token_logprobs=tuple(state.logprobs[r]), stop_reason=stop_reason,
            token_confidence=tuple(state.confidence[r]) if state.confidence else (),
            padding_flops=padding, pruned_flops=pruned,
        ))
    return out
