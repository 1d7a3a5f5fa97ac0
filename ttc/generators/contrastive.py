"""Contrastive decoding (Li et al. 2023): prefer tokens the expert likes much more than an amateur does.

At each step, over the expert's plausible set V = {t : p_e(t) >= alpha max p_e}, a token's score is
log p_e(t) - log p_a(t); tokens outside V score -inf. Greedy (temperature 0) takes the best score (the record's logprob is the expert's of the tokens chosen); with a
temperature the scores are the logits of a seeded draw (the same truncations and per-sample seeds as the HF
generator, ttc.generators.hf.sampling). Expert and amateur must share a tokenizer (the bundled family does).
alpha = 1 keeps only the expert's argmax: expert greedy decoding exactly.
Every row is prefilled on its own in both models (no shared prefix cache); FLOPs are both models' forwards,
counted from each model's card. Knows nothing about tasks or strategies.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Completion, SamplingParams, Scored
from ttc.generators.constraints import refuse
from ttc.generators.hf import HFGenerator
from ttc.generators.hf.cache import RESERVE, growing
from ttc.generators.hf.sampling import choose
from ttc.generators.paired import pair_name


class ContrastiveGenerator:
    """An expert decoded against an amateur; see the module docstring. `card`, `encode` and `score` are the
    expert's."""

    def __init__(self, expert: str = "tiny-4m", amateur: str = "tiny-0.3m", alpha: float = 0.1,
                 device: str = "cpu", max_batch_rows: int = 64, name: str | None = None) -> None:
        if not 0 < alpha <= 1:
            raise ConfigError(f"generator.alpha={alpha} must be in (0, 1]")
        self.expert = HFGenerator(expert, device=device, max_batch_rows=max_batch_rows)
        self.amateur = HFGenerator(amateur, device=device, max_batch_rows=max_batch_rows)
        self.name = pair_name(self.expert, self.amateur, ("expert", "amateur"), (expert, amateur), "cd", name)
        self.card, self.max_rows, self.device = self.expert.card, int(max_batch_rows), torch.device(device)
        self.alpha = float(alpha)

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
        """len(seeds[i]) contrastive completions of prompts[i], each with its own seed."""
        refuse(params, "generator=contrastive")
        jobs = [(i, j, int(s)) for i, row in enumerate(seeds) for j, s in enumerate(row)]
        out: list[list[Completion]] = [[] for _ in prompts]
        for start in range(0, len(jobs), self.max_rows):
            chunk = jobs[start:start + self.max_rows]
            for (i, j, s), c in zip(chunk, self._chunk([prompts[i] for i, _, _ in chunk], params,
                                                       [s for _, _, s in chunk])):
                out[i].append(Completion(index=j, **c))
        return out

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """Generator.score: the expert's log-probability (contrastive scores are not probabilities)."""
        return self.expert.score(prompts, continuations)

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text (the shared tokenizer)."""
        return self.expert.encode(text, special)

    def _chunk(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> list[dict]:
        encoded = [self.encode(p) for p in prompts]
        e_logits, e_cache, mask = self.expert.prefill(encoded)
        a_logits, a_cache, _ = self.amateur.prefill(encoded)
        pos = torch.tensor([len(e) for e in encoded], device=self.device)
        n, eos = len(encoded), self.expert.eos
        tokens: list[list[int]] = [[] for _ in range(n)]
        logprob = [0.0] * n  # the expert's log-probability of the tokens chosen
        finish: list[str | None] = [None] * n
        seed_t = torch.tensor(seeds, dtype=torch.int64, device=self.device)
        max_new = min(params.max_tokens, self.card.context - mask.shape[1])
        growing(e_cache, min(max_new, RESERVE))  # both caches append in place (ttc.generators.hf.cache)
        growing(a_cache, min(max_new, RESERVE))
        for step in range(max_new):
            scores, lp_e = self._scores(e_logits, a_logits)
            nxt = choose(scores, params, seed_t, step)
            chosen = lp_e.gather(-1, nxt[:, None])[:, 0].tolist()
            for r, t in enumerate(nxt.tolist()):
                if finish[r] is None:
                    tokens[r].append(t)
                    logprob[r] += chosen[r]
                    finish[r] = self._finished(tokens[r], t, eos, params, step == max_new - 1)
            if all(f is not None for f in finish):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            feed = dict(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos[:, None], use_cache=True)
            e_out = self.expert.model(**feed, past_key_values=e_cache)
            a_out = self.amateur.model(**feed, past_key_values=a_cache)
            e_logits, e_cache = e_out.logits[:, -1].float(), e_out.past_key_values
            a_logits, a_cache = a_out.logits[:, -1].float(), a_out.past_key_values
            pos = pos + 1
        return [{**self._completion(e, toks, f, s, params), "logprob": lp}
                for e, toks, f, s, lp in zip(encoded, tokens, finish, seeds, logprob)]

    def _scores(self, e_logits: torch.Tensor, a_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p_e - log p_a over the plausible set and -inf elsewhere, log p_e)."""
        lp_e, lp_a = torch.log_softmax(e_logits, -1), torch.log_softmax(a_logits, -1)
        keep = lp_e >= lp_e.max(-1, keepdim=True).values + torch.log(torch.tensor(self.alpha))
        return torch.where(keep, lp_e - lp_a, torch.full_like(lp_e, float("-inf"))), lp_e

    def _finished(self, toks: list[int], t: int, eos: int, params: SamplingParams, last: bool) -> str | None:
        if t == eos:
            return "stop"
        if params.stop:
            tail = self.expert.tokenizer.decode(toks[-(max(len(s) for s in params.stop) + 2):])
            if any(s in tail for s in params.stop):
                return "stop"
        return "length" if last else None

    def _completion(self, encoded: list[int], toks: list[int], finish: str | None, seed: int,
                    params: SamplingParams) -> dict:
        text, stop_reason = self.expert.text_of(toks, params.stop)
        plen = len(encoded)
        e_prompt, e_flops = self.expert.card.generation_flops(plen, 0, len(toks))
        a_prompt, a_flops = self.amateur.card.generation_flops(plen, 0, len(toks))
        return {"seed": seed, "text": text, "prompt_tokens": plen, "cached_tokens": 0,
                "generated_tokens": len(toks), "logprob": 0.0, "finish_reason": finish or "length",
                "flops": e_flops + a_flops, "prompt_flops": e_prompt + a_prompt,
                "stop_reason": stop_reason}
