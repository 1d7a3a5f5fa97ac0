"""Classic token-level beam search with length normalisation, on an HFGenerator's model.

Score of a hypothesis: sum of token log-probabilities / (generated length ** length_penalty), as in
HF transformers' `generate(num_beams=...)`, which runs it. The ledger is what that implementation
spends: every beam slot is prefilled with its own copy of the prompt and steps until its prompt's
search ends, so each returned beam carries the prompt and the longest beam's length.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ttc.contracts.records import Completion


@torch.inference_mode()
def beam_search(gen, prompts: Sequence[str], width: int, max_tokens: int,
                length_penalty: float = 1.0) -> list[list[Completion]]:
    """`width` finished beams per prompt, best first, with per-token log-probabilities."""
    tok = gen.tokenizer
    out: list[list[Completion]] = []
    per_chunk = max(1, gen.max_rows // width)
    for start in range(0, len(prompts), per_chunk):
        encoded = [gen.encode(p) for p in prompts[start:start + per_chunk]]
        width_px = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width_px), gen.pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(encoded):
            ids[i, width_px - len(e):], mask[i, width_px - len(e):] = torch.tensor(e), 1
        res = gen.model.generate(
            input_ids=ids.to(gen.device), attention_mask=mask.to(gen.device), num_beams=width,
            num_return_sequences=width, length_penalty=length_penalty, early_stopping=True, do_sample=False,
            max_new_tokens=min(max_tokens, gen.card.context - width_px), return_dict_in_generate=True,
            output_scores=True, pad_token_id=gen.pad, eos_token_id=gen.eos,
        )
        trans = gen.model.compute_transition_scores(res.sequences, res.scores, res.beam_indices,
                                                    normalize_logits=False).cpu()
        seqs = res.sequences[:, width_px:].cpu()
        for i, e in enumerate(encoded):
            rows = range(i * width, (i + 1) * width)
            toks = [_trim(seqs[r].tolist(), gen.eos, gen.pad) for r in rows]
            steps = max(len(t) for t in toks)
            beams = []
            for j, r in enumerate(rows):
                lps = tuple(float(x) for x in trans[r, : len(toks[j])].tolist())
                body = toks[j][:-1] if toks[j] and toks[j][-1] == gen.eos else toks[j]
                beams.append(Completion(
                    index=j, seed=0, text=tok.decode(body, skip_special_tokens=True), prompt_tokens=len(e),
                    cached_tokens=0, generated_tokens=steps, logprob=sum(lps),
                    finish_reason="stop" if toks[j] and toks[j][-1] == gen.eos else "length",
                    flops=gen.card.generation_flops(len(e), 0, steps)[1],
                    prompt_flops=gen.card.generation_flops(len(e), 0, steps)[0],
                    token_logprobs=lps,
                ))
            out.append(beams)
    return out


def _trim(tokens: list[int], eos: int, pad: int) -> list[int]:
    """Tokens up to and including the first EOS; padding after it dropped."""
    if eos in tokens:
        return tokens[: tokens.index(eos) + 1]
    return [t for t in tokens if t != pad]
