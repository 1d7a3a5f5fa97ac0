"""The HF engine's reads of its own distribution: log p(continuation | prompt) (`score`), and for CoT decoding
the top first tokens of each prompt and the p(top1) - p(top2) margin over an answer's tokens
(ttc.contracts.protocols TopTokens, AnswerMargins). Forwards are bounded by tokens (token_chunks).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ttc.contracts.records import Scored
from ttc.generators.hf.batch import right_padded, token_chunks
from ttc.generators.hf.model import HFModel


@torch.inference_mode()
def top_tokens(lm: HFModel, prompts: Sequence[str], k: int) -> tuple[list[list[tuple[str, float]]], list[tuple[int, float]]]:
    """TopTokens (ttc.contracts.protocols): each prompt's k most likely next tokens, from one prefill."""
    encoded = [lm.encode(p) for p in prompts]
    options: list[list[tuple[str, float]]] = []
    for start, stop in token_chunks([len(e) for e in encoded], lm.max_rows, lm.max_tokens):
        logits, _, _ = lm.prefill(encoded[start:stop])
        logp = torch.log_softmax(logits, -1)
        special = [i for i in lm.tokenizer.all_special_ids if i < logp.shape[-1]]
        logp[:, special] = float("-inf")  # a branch must start with text, not EOS or padding
        top = logp.topk(min(k, logp.shape[-1] - len(special)), -1)
        for vals, ids in zip(top.values.tolist(), top.indices.tolist()):
            options.append([(lm.tokenizer.decode([i]), v) for i, v in zip(ids, vals)])
    return options, [(len(e), lm.card.span_flops(0, len(e), logits=1)) for e in encoded]


@torch.inference_mode()
def answer_margins(lm: HFModel, prompts: Sequence[str], texts: Sequence[str],
                   spans: Sequence[tuple[int, int]]) -> list[tuple[float, int, float]]:
    """AnswerMargins (ttc.contracts.protocols): mean p(top1) - p(top2) over the span's tokens."""
    rows = []
    for p, t, (a, b) in zip(prompts, texts, spans):
        enc = lm.tokenizer(p + t, return_offsets_mapping=True)
        ids = enc.input_ids[: lm.card.context]
        want = [j for j, (x, y) in enumerate(enc.offset_mapping[: len(ids)])
                if j > 0 and y > len(p) + a and x < len(p) + b]
        rows.append((ids, want))
    out: list[tuple[float, int, float]] = []
    for start, stop in token_chunks([len(r[0]) for r in rows], lm.max_rows, lm.max_tokens):
        chunk = rows[start:stop]
        batch, mask = right_padded([ids for ids, _ in chunk], lm.pad)
        probs = torch.softmax(lm.model(input_ids=batch.to(lm.device), attention_mask=mask.to(lm.device))
                              .logits.float(), -1)
        top2 = probs.topk(2, -1).values
        for i, (ids, want) in enumerate(chunk):
            gaps = [float(top2[i, j - 1, 0] - top2[i, j - 1, 1]) for j in want]
            out.append((sum(gaps) / len(gaps) if gaps else 0.0, len(ids), lm.card.span_flops(0, len(ids))))
    return out


@torch.inference_mode()
def score(lm: HFModel, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
    """log p(continuation | prompt), batched with right padding."""
    pairs = [(lm.encode(p), lm.encode(c, special=False)) for p, c in zip(prompts, continuations)]
    out: list[Scored] = []
    for start, stop in token_chunks([len(p) + len(c) for p, c in pairs], lm.max_rows, lm.max_tokens):
        out.extend(_score_chunk(lm, pairs[start:stop]))
    return out


def _score_chunk(lm: HFModel, pairs: list[tuple[list[int], list[int]]]) -> list[Scored]:
    seqs = [(p + c)[: lm.card.context] for p, c in pairs]
    ids, mask = right_padded(seqs, lm.pad)
    logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits.float()
    logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None].to(lm.device))[..., 0].cpu()
    out = []
    for i, (p, c) in enumerate(pairs):
        n_cont = len(seqs[i]) - len(p)
        tl = tuple(logp[i, len(p) - 1 : len(p) - 1 + n_cont].tolist())
        out.append(Scored(logprob=float(sum(tl)), tokens=len(seqs[i]), flops=lm.card.span_flops(0, len(seqs[i])),
                          token_logprobs=tl))
    return out
