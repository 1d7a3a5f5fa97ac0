"""Process reward models on HF transformers; the input format is an adapter (see ttc.verifiers.prm_formats).

The adapter builds one input per solution and the positions where that model puts its step scores; this
module batches those inputs (one forward pass per chunk of solutions), reads the outputs exactly there, and
counts every token read. Steps are the solution split at `step_split`; a solution without a split is one
step (documented fallback). The verdict's score aggregates the step scores (`aggregate`: last, min, prod,
mean). A tokenizer lacking the format's tag or label tokens is refused at construction; a NaN score raises
instead of ranking silently. Loads a local directory (or a hub id with a pinned `revision` where the network
allows); FLOPs from the model's config (card.json if present) at the positions computed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

from ttc.contracts.cards import load_card
from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.records import Verdict
from ttc.contracts.rules import AGGREGATES, aggregate
from ttc.verifiers.prm_formats import PRMFormat


class ProcessRewardModel:
    """A PRM read through its format adapter: step scores per solution, aggregated into the verdict's score."""

    def __init__(self, model: str, format: PRMFormat, revision: str | None = None, step_split: str = "\n\n",
                 aggregate: str = "last", device: str = "cpu", dtype: str = "float32", batch_size: int = 8,
                 trust_remote_code: bool = False, name: str | None = None,
                 memory_fraction: float | None = None) -> None:
        if not isinstance(format, PRMFormat):
            raise ConfigError(f"verifier.format={format!r} is not a PRM format adapter; give one by _target_, e.g. "
                              f"format: {{_target_: ttc.verifiers.prm_formats.QwenFormat}}")
        if aggregate not in AGGREGATES:
            raise bad_choice("verifier.aggregate", aggregate, AGGREGATES)
        self.format, self.split, self.how, self.batch = format, step_split, aggregate, int(batch_size)
        local = Path(model).expanduser()
        source = str(local) if local.is_dir() else model
        kw = {"revision": revision} if revision and not local.is_dir() else {}
        self.tokenizer = AutoTokenizer.from_pretrained(source, **kw)
        self.tokens = format.token_ids(self.tokenizer)
        loader = AutoModelForCausalLM if format.causal_lm else AutoModelForTokenClassification
        if trust_remote_code:  # Qwen2.5-Math-PRM and Skywork ship their heads as remote code
            loader, kw = AutoModel, {**kw, "trust_remote_code": True}
        if memory_fraction is not None:  # share a GPU with a vLLM generator: cap this process's allocations on it
            if not (0 < memory_fraction <= 1 and device.startswith("cuda")):
                raise ConfigError(f"verifier.memory_fraction={memory_fraction} needs a cuda device and a value in (0, 1]")
            torch.cuda.set_per_process_memory_fraction(float(memory_fraction), torch.device(device))
        self.model = loader.from_pretrained(source, dtype=getattr(torch, dtype), **kw).to(device).eval()
        self.device = torch.device(device)
        self.card = load_card(local) if local.is_dir() else None
        self.name = name or f"{local.name if local.is_dir() else model.split('/')[-1]}-prm"

    def steps(self, solution: str) -> list[str]:
        """The solution's steps (split at `step_split`, blanks dropped); the whole solution if none."""
        parts = [s.strip() for s in solution.split(self.split)]
        parts = [s for s in parts if s]
        return parts or [solution.strip()]

    def encode(self, prompt: str, solution: str) -> tuple[list[int], list[int]]:
        """Input ids of one solution and its score positions, as the format lays them out."""
        return self.format.encode(self.tokenizer, self.tokens, prompt, self.steps(solution))

    # ---- scoring ----------------------------------------------------------------------------------------
    @torch.inference_mode()
    def step_scores(self, encoded: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        """P(good) at every score position of every encoded solution, `batch_size` solutions per forward."""
        out: list[list[float]] = []
        for start in range(0, len(encoded), self.batch):
            chunk = encoded[start:start + self.batch]
            width = max(len(ids) for ids, _ in chunk)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in chunk], device=self.device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in chunk], device=self.device)
            out_ = self.model(input_ids=ids, attention_mask=mask)
            logits = (out_.logits if hasattr(out_, "logits") else out_[0]).float()
            for row, (_, marks) in zip(logits, chunk):
                out.append(self.format.scores(row[marks], self.tokens).tolist())
        return out

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """Verifier.verify (ttc.contracts.protocols): a verdict per solution, from prompt and text only."""
        encoded = [self.encode(p, s) for p, sols in zip(prompts, solutions) for s in sols]
        for ids, marks in encoded:
            if not marks:
                raise ConfigError(f"verifier {self.name}: no step position found in an encoded solution "
                                  f"({len(ids)} tokens); the tokenizer's chat template drops the step tag?")
        scores = self.step_scores(encoded)
        out, k = [], 0
        for p, sols in zip(prompts, solutions):
            row = []
            for s in sols:
                steps = scores[k]
                if any(math.isnan(x) for x in steps):
                    raise ConfigError(f"verifier {self.name}: NaN step score on a solution of {p[:40]!r}; "
                                      f"the model produced NaN logits (try dtype=float32)")
                n = len(encoded[k][0])
                flops = self.card.span_flops(0, n) if self.card else 0.0
                row.append(Verdict(score=aggregate(steps, self.how), tokens=n, flops=flops, step_scores=tuple(steps)))
                k += 1
            out.append(row)
        return out
