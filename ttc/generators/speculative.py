"""Speculative decoding (Leviathan et al. 2023) on HF transformers: a draft model proposes k tokens, the target
checks all of them in one forward.

Each round, per row: the draft proposes d_1..d_k (k + 1 single-token forwards: the last only puts d_k in its
cache), the target reads [x, d_1..d_k] at once (x: the row's last committed token) and gets its k + 1 next-token
distributions p_1..p_{k+1}. Greedy (temperature 0): accept while d_i is the target's argmax, then commit the
target's argmax, so the text is the target's greedy text token for token. Sampling: accept d_i with probability
min(1, p_i(d_i) / q_i(d_i)); at the first rejection draw from norm(max(0, p_i - q_i)), and after k acceptances
draw a bonus token from p_{k+1}: every committed token is distributed as the target's own (both distributions
tempered and truncated by the same SamplingParams).

Rows of a batch accept different numbers of tokens: both caches always gain the round's k + 1 slots, and the
rejected ones are switched off in the attention mask (positions follow the committed tokens only), so no cache is
ever cropped. Every random number is a function of (row seed, index of the token decided, purpose), so a sample
depends on its seed alone, whatever batch it ran in. FLOPs: the target's and the draft's forwards, each from its
own card, at the context each row really had; attention to switched-off and padded slots is `padding_flops`.
Knows nothing about tasks or strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Completion, SamplingParams, Scored
from ttc.generators.constraints import refuse
from ttc.generators.hf import HFGenerator
from ttc.generators.hf.cache import RESERVE, growing
from ttc.generators.hf.sampling import gumbel_draw, truncate, uniforms
from ttc.generators.paired import pair_name

_DRAFT, _ACCEPT, _RESIDUAL = 0, 1, 2  # purposes of a token index's random numbers


@dataclass
class _Row:
    """One sample's decoding state and what it has cost so far."""

    prompt: int
    seed: int
    tokens: list[int]
    logprobs: list[float]
    finish: str | None = None
    drafted: int = 0
    accepted: int = 0
    rounds: int = 0
    target_flops: float = 0.0
    draft_flops: float = 0.0
    padding_flops: float = 0.0


class SpeculativeGenerator:
    """A target model decoded with a draft model's proposals; see the module docstring. `card`, `encode` and
    `score` are the target's."""

    def __init__(self, target: str = "tiny-4m", draft: str = "tiny-0.3m", k: int = 4, device: str = "cpu",
                 dtype: str = "float32", max_batch_rows: int = 64, name: str | None = None,
                 revision: str | None = None, draft_revision: str | None = None) -> None:
        if k < 1:
            raise ConfigError(f"generator.k={k} must be at least 1 (tokens the draft proposes per round)")
        self.target = HFGenerator(target, device=device, dtype=dtype, max_batch_rows=max_batch_rows, revision=revision)
        self.draft = HFGenerator(draft, device=device, dtype=dtype, max_batch_rows=max_batch_rows,
                                 revision=draft_revision)
        self.name = pair_name(self.target, self.draft, ("target", "draft"), (target, draft), "sd", name)
        self.card, self.max_rows, self.device = self.target.card, int(max_batch_rows), torch.device(device)
        self.k = int(k)

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text (the shared tokenizer)."""
        return self.target.encode(text, special)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """Generator.score: the target's log-probability (speculation changes how it decodes, not its model)."""
        return self.target.score(prompts, continuations)

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
        """len(seeds[i]) completions of prompts[i], each drawn with its own seed."""
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seed lists")
        refuse(params, "generator=speculative")
        encoded = [self.encode(p) for p in prompts]
        if any(len(e) < 2 for e in encoded):
            raise ConfigError("speculative decoding needs prompts of at least 2 tokens")
        out: list[list[Completion]] = [[] for _ in prompts]
        start = 0
        while start < len(prompts):
            stop, rows = start, 0
            while stop < len(prompts) and (stop == start or rows + len(seeds[stop]) <= self.max_rows):
                rows, stop = rows + len(seeds[stop]), stop + 1
            out[start:stop] = self._chunk(encoded[start:stop], params, [list(s) for s in seeds[start:stop]])
            start = stop
        return out

    def _chunk(self, encoded: list[list[int]], params: SamplingParams, seeds: list[list[int]]) -> list[list[Completion]]:
        heads = [e[:-1] for e in encoded]  # the last prompt token is each row's first pending token
        _, t_cache, mask = self.target.prefill(heads)
        _, d_cache, _ = self.draft.prefill(heads)
        rows = [_Row(p, int(s), [], []) for p, ss in enumerate(seeds) for s in ss]
        idx = torch.tensor([r.prompt for r in rows], device=self.device)
        t_cache.batch_select_indices(idx)
        d_cache.batch_select_indices(idx)
        mask = mask[idx]
        last = torch.tensor([encoded[r.prompt][-1] for r in rows], device=self.device)
        pos = torch.tensor([len(encoded[r.prompt]) - 1 for r in rows], device=self.device)
        max_new = min(params.max_tokens, self.card.context - max(len(e) for e in encoded) - self.k)
        growing(t_cache, min(max_new, RESERVE) + self.k + 1)  # both caches append in place (ttc.generators.hf.cache)
        growing(d_cache, min(max_new, RESERVE) + self.k + 1)
        if max_new < 1:
            raise ConfigError(f"a prompt of {max(len(e) for e in encoded)} tokens leaves no room for k={self.k} "
                              f"drafted tokens in the context of {self.card.context}")
        alive = list(range(len(rows)))
        while alive:
            live = [rows[r] for r in alive]
            seed_t = torch.tensor([r.seed for r in live], dtype=torch.int64, device=self.device)
            done = torch.tensor([len(r.tokens) for r in live], dtype=torch.int64, device=self.device)
            drafts, q = self._propose(d_cache, mask, last, pos, seed_t, done, params)
            t_mask = torch.cat([mask, torch.ones_like(mask[:, : self.k + 1])], dim=1)
            logits = self.target.model(
                input_ids=torch.cat([last[:, None], drafts], dim=1), attention_mask=t_mask,
                position_ids=pos[:, None] + torch.arange(self.k + 1, device=self.device)[None, :],
                past_key_values=t_cache, use_cache=True).logits.float()
            n_acc, nxt = self._verify(drafts, q, logits, params, seed_t, done)
            self._commit(live, drafts, n_acc, nxt, torch.log_softmax(logits, -1), params, max_new)
            self._book(live, pos.tolist(), mask.shape[1])
            valid = torch.arange(self.k + 1, device=self.device)[None, :] <= n_acc[:, None]
            mask, pos, last = torch.cat([mask, valid.to(mask.dtype)], dim=1), pos + n_acc + 1, nxt
            keep = [b for b, r in enumerate(live) if r.finish is None]
            if len(keep) < len(live):
                sel = torch.tensor(keep, dtype=torch.long, device=self.device)
                t_cache.batch_select_indices(sel)
                d_cache.batch_select_indices(sel)
                mask, pos, last = mask[sel], pos[sel], last[sel]
                alive = [alive[b] for b in keep]
        return self._completions(encoded, seeds, rows, params)

    def _propose(self, cache, mask: torch.Tensor, last: torch.Tensor, pos: torch.Tensor, seeds: torch.Tensor,
                 done: torch.Tensor, params: SamplingParams) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The draft's k tokens per row [B, k] and, when sampling, its distributions q_1..q_k [B, k, V]."""
        feed, drafts, qs = last, [], []
        for i in range(self.k + 1):
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            out = self.draft.model(input_ids=feed[:, None], attention_mask=mask, position_ids=(pos + i)[:, None],
                                   past_key_values=cache, use_cache=True)
            if i == self.k:
                break  # this forward only put d_k into the draft's cache
            logits = out.logits[:, -1].float()
            if params.temperature == 0:
                feed = logits.argmax(-1)
            else:
                processed = truncate(logits, params)
                qs.append(processed.softmax(-1))
                feed = gumbel_draw(processed, seeds, (done + i) * 3 + _DRAFT)
            drafts.append(feed)
        return torch.stack(drafts, dim=1), (torch.stack(qs, dim=1) if qs else None)

    def _verify(self, drafts: torch.Tensor, q: torch.Tensor | None, logits: torch.Tensor, params: SamplingParams,
                seeds: torch.Tensor, done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(drafted tokens accepted per row, the token committed after them) under the module's rule."""
        rows = torch.arange(drafts.shape[0], device=self.device)
        if params.temperature == 0:
            best = logits.argmax(-1)
            n_acc = (drafts == best[:, : self.k]).long().cumprod(-1).sum(-1)
            return n_acc, best[rows, n_acc]
        p = truncate(logits, params).softmax(-1)  # [B, k + 1, V]
        ratio = p[:, : self.k].gather(-1, drafts[..., None])[..., 0] / q.gather(-1, drafts[..., None])[..., 0]
        u = torch.stack([uniforms(seeds, (done + i) * 3 + _ACCEPT, 1)[:, 0] for i in range(self.k)], dim=1)
        n_acc = (u < ratio.double()).long().cumprod(-1).sum(-1)
        q_full = torch.cat([q, torch.zeros_like(q[:, :1])], dim=1)  # after k acceptances: the bonus from p_{k+1}
        residual = (p[rows, n_acc] - q_full[rows, n_acc]).clamp(min=0)
        empty = residual.sum(-1, keepdim=True) <= 0  # p == q to rounding: rejection had probability ~0
        residual = torch.where(empty, p[rows, n_acc], residual)
        return n_acc, gumbel_draw(residual.log(), seeds, (done + n_acc) * 3 + _RESIDUAL)

    def _commit(self, live: list[_Row], drafts: torch.Tensor, n_acc: torch.Tensor, nxt: torch.Tensor,
                logp: torch.Tensor, params: SamplingParams, max_new: int) -> None:
        """Append each row's accepted drafts and its next token, with the target's log-probabilities, until it ends."""
        n_list, d_list, x_list = n_acc.tolist(), drafts.tolist(), nxt.tolist()
        for b, row in enumerate(live):
            new = d_list[b][: n_list[b]] + [x_list[b]]
            lps = logp[b, torch.arange(len(new)), torch.tensor(new, device=logp.device)].tolist()
            row.drafted, row.accepted, row.rounds = row.drafted + self.k, row.accepted + n_list[b], row.rounds + 1
            for t, lp in zip(new, lps):
                row.tokens.append(t)
                row.logprobs.append(lp)
                if t == self.target.eos or (params.stop and self.target.hit_stop(row.tokens, params.stop)):
                    row.finish = "stop"
                elif len(row.tokens) >= max_new:
                    row.finish = "length"
                if row.finish:
                    break

    def _book(self, live: list[_Row], positions: list[int], width: int) -> None:
        """A round's FLOPs per row: k + 1 target positions and k + 1 draft positions after the row's own context;
        attending the batch's padded and switched-off slots besides it is padding."""
        n = self.k + 1
        for row, past in zip(live, positions):
            for card, attr in ((self.target.card, "target_flops"), (self.draft.card, "draft_flops")):
                method = card.span_flops(past, n)
                setattr(row, attr, getattr(row, attr) + method)
                row.padding_flops += card.span_flops(width, n) - method

    def _completions(self, encoded: list[list[int]], seeds: list[list[int]], rows: list[_Row],
                     params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = [[] for _ in seeds]
        width = max(len(e) for e in encoded) - 1
        for row in rows:
            toks, j, plen = row.tokens, len(out[row.prompt]), len(encoded[row.prompt])
            text, stop_reason = self.target.text_of(toks, params.stop)
            prefill_t = self.target.card.span_flops(0, plen - 1, logits=1) if j == 0 else 0.0
            prefill_d = self.draft.card.span_flops(0, plen - 1, logits=1) if j == 0 else 0.0
            padding = row.padding_flops
            if j == 0:  # the prompt row of the prefills, padded to the batch's width
                padding += sum(c.span_flops(0, width, logits=1) for c in (self.target.card, self.draft.card))
                padding -= prefill_t + prefill_d
            out[row.prompt].append(Completion(
                index=j, seed=row.seed, text=text, prompt_tokens=plen,
                cached_tokens=0 if j == 0 else plen - 1, generated_tokens=len(toks), logprob=float(sum(row.logprobs)),
                finish_reason=row.finish or "length", flops=prefill_t + prefill_d + row.target_flops + row.draft_flops,
                prompt_flops=prefill_t + prefill_d, token_logprobs=tuple(row.logprobs),
                stop_reason=stop_reason, padding_flops=padding, drafted_tokens=row.drafted,
                accepted_tokens=row.accepted, draft_flops=prefill_d + row.draft_flops,
                target_forwards=row.rounds + (1 if j == 0 else 0)))
        return out
