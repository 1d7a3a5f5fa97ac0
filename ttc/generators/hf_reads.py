"""The HF generator's reads of its own distribution: log p(continuation | prompt) (`score`), and for CoT
decoding the top first tokens of each prompt and the p(top1) - p(top2) margin over an answer's tokens
(ttc.contracts.protocols TopTokens, AnswerMargins). Forwards are bounded by tokens (token_chunks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from ttc.contracts.records import Scored
from ttc.generators.hf import token_chunks

if TYPE_CHECKING:
    from ttc.generators.hf import HFGenerator


@torch.inference_mode()
def top_tokens(self: "HFGenerator", prompts: Sequence[str], k: int) -> tuple[list[list[tuple[str, float]]], list[tuple[int, float]]]:
    """TopTokens (ttc.contracts.protocols): each prompt's k most likely next tokens, from one prefill."""
    encoded = [self.encode(p) for p in prompts]
    options: list[list[tuple[str, float]]] = []
    for start, stop in token_chunks([len(e) for e in encoded], self.max_rows, self.max_tokens):
        logits, _, _ = self._prefill(encoded[start:stop])
        logp = torch.log_softmax(logits, -1)
        special = [i for i in self.tokenizer.all_special_ids if i < logp.shape[-1]]
        logp[:, special] = float("-inf")  # a branch must start with text, not EOS or padding
        top = logp.topk(min(k, logp.shape[-1] - len(special)), -1)
        for vals, ids in zip(top.values.tolist(), top.indices.tolist()):
            options.append([(self.tokenizer.decode([i]), v) for i, v in zip(ids, vals)])
    return options, [(len(e), self.card.span_flops(0, len(e), logits=1)) for e in encoded]

@torch.inference_mode()
def answer_margins(self: "HFGenerator", prompts: Sequence[str], texts: Sequence[str],
                   spans: Sequence[tuple[int, int]]) -> list[tuple[float, int, float]]:
    """AnswerMargins (ttc.contracts.protocols): mean p(top1) - p(top2) over the span's tokens."""
    rows = []
    for p, t, (a, b) in zip(prompts, texts, spans):
        enc = self.tokenizer(p + t, return_offsets_mapping=True)
        ids = enc.input_ids[: self.card.context]
        want = [j for j, (x, y) in enumerate(enc.offset_mapping[: len(ids)])
                if j > 0 and y > len(p) + a and x < len(p) + b]
        rows.append((ids, want))
    out: list[tuple[float, int, float]] = []
    for start, stop in token_chunks([len(r[0]) for r in rows], self.max_rows, self.max_tokens):
        chunk = rows[start:stop]
        width = max(len(ids) for ids, _ in chunk)
        batch = torch.full((len(chunk), width), self.pad, dtype=torch.long)
        mask = torch.zeros_like(batch)
        for i, (ids, _) in enumerate(chunk):
            batch[i, : len(ids)], mask[i, : len(ids)] = torch.tensor(ids), 1
        probs = torch.softmax(self.model(input_ids=batch.to(self.device), attention_mask=mask.to(self.device))
                              .logits.float(), -1)
        top2 = probs.topk(2, -1).values
        for i, (ids, want) in enumerate(chunk):
            gaps = [float(top2[i, j - 1, 0] - top2[i, j - 1, 1]) for j in want]
            out.append((sum(gaps) / len(gaps) if gaps else 0.0, len(ids), self.card.span_flops(0, len(ids))))
    return out


@torch.inference_mode()
def score(self: "HFGenerator", prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
    """log p(continuation | prompt), batched with right padding."""
    pairs = [(self.encode(p), self.encode(c, special=False)) for p, c in zip(prompts, continuations)]
    out: list[Scored] = []
    for start, stop in token_chunks([len(p) + len(c) for p, c in pairs], self.max_rows, self.max_tokens):
        out.extend(_score_chunk(self, pairs[start:stop]))
    return out


def _score_chunk(self: "HFGenerator", pairs: list[tuple[list[int], list[int]]]) -> list[Scored]:
    seqs = [(p + c)[: self.card.context] for p, c in pairs]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
    logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None].to(self.device))[..., 0].cpu()
    out = []
    for i, (p, c) in enumerate(pairs):
        n_cont = len(seqs[i]) - len(p)
        tl = tuple(logp[i, len(p) - 1 : len(p) - 1 + n_cont].tolist())
        out.append(Scored(logprob=float(sum(tl)), tokens=len(seqs[i]), flops=self.card.span_flops(0, len(seqs[i])),
                          token_logprobs=tl))
    return out
