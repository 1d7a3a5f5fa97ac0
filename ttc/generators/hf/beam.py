"""Classic token-level beam search with length normalisation, on an HF engine's model (ttc.generators.hf.model).

Score of a hypothesis: sum of token log-probabilities / (generated length ** length_penalty), as in
HF transformers' `generate(num_beams=...)`, which runs it. The ledger is what that implementation
spends: every beam slot is prefilled with its own copy of the prompt and steps until its prompt's
search ends, so each returned beam carries the prompt and the longest beam's length. Every forward of a chunk
(its prefill and one per generated position) reads the weights once for all its rows: each beam is booked
1/rows of them.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ttc.contracts.records import Completion
from ttc.generators.hf.batch import left_padded
from ttc.generators.hf.model import HFModel


@torch.inference_mode()
def beam_search(lm: HFModel, prompts: Sequence[str], width: int, max_tokens: int,
                length_penalty: float = 1.0) -> list[list[Completion]]:
    """`width` finished beams per prompt, best first, with per-token log-probabilities."""
    out: list[list[Completion]] = []
    per_chunk = max(1, lm.max_rows // width)
    for start in range(0, len(prompts), per_chunk):
        encoded = [lm.encode(p) for p in prompts[start:start + per_chunk]]
        width_px = max(len(e) for e in encoded)
        ids, mask = left_padded(encoded, lm.pad)
        res = lm.model.generate(
            input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), num_beams=width,
            num_return_sequences=width, length_penalty=length_penalty, early_stopping=True, do_sample=False,
            max_new_tokens=min(max_tokens, lm.card.context - width_px), return_dict_in_generate=True,
            output_scores=True, pad_token_id=lm.pad, eos_token_id=lm.eos,
        )
        trans = lm.model.compute_transition_scores(res.sequences, res.scores, res.beam_indices,
                                                   normalize_logits=False).cpu()
        seqs = res.sequences[:, width_px:].cpu()
        for i, e in enumerate(encoded):
            rows = range(i * width, (i + 1) * width)
            toks = [_trim(seqs[r].tolist(), lm.eos, lm.pad) for r in rows]
            share = seqs.shape[1] * lm.weight_bytes / seqs.shape[0]  # the chunk's forwards over its rows
            out.append(_beams(lm, e, toks, trans[rows.start:rows.stop], share))
    return out


def _beams(lm: HFModel, encoded: list[int], toks: list[list[int]], trans: torch.Tensor,
           weight_share: float) -> list[Completion]:
    """One prompt's beams (their tokens `toks`, transition scores `trans`) as Completions, each booked the
    longest beam's steps and `weight_share`, its share of the weights the chunk's forwards read."""
    steps = max(len(t) for t in toks)
    prompt_flops, flops = lm.card.generation_flops(len(encoded), 0, steps)
    beams = []
    for j, t in enumerate(toks):
        lps = tuple(float(x) for x in trans[j, : len(t)].tolist())
        beams.append(Completion(
            index=j, seed=0, text=lm.text_of(t)[0], prompt_tokens=len(encoded),
            cached_tokens=0, generated_tokens=steps, logprob=sum(lps),
            finish_reason="stop" if t and t[-1] == lm.eos else "length",
            flops=flops, prompt_flops=prompt_flops, token_logprobs=lps,
            kv_bytes=lm.card.generation_kv_bytes(len(encoded), steps, lm.kv_element),
            weight_bytes=weight_share,
        ))
    return beams


def _trim(tokens: list[int], eos: int, pad: int) -> list[int]:
    """Tokens up to and including the first EOS; padding after it dropped."""
    if eos in tokens:
        return tokens[: tokens.index(eos) + 1]
    return [t for t in tokens if t != pad]
