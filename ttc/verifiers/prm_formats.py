"""How each public process reward model wants its input, and where it puts its step scores.

One small adapter class per format, chosen in the verifier's config by `_target_` (`format: {_target_:
ttc.verifiers.prm_formats.QwenFormat}`). An adapter knows its model head (`causal_lm`), checks a tokenizer
for the tokens it needs (`token_ids`: refused at construction if missing), builds one input per solution
with the positions of its step scores (`encode`), and turns the outputs at those positions into P(step is
good) (`scores`):
- QwenFormat (Qwen2.5-Math-PRM): chat template, steps joined and ended by `<extra_0>`; a two-label head;
  score = softmax(logits at each `<extra_0>`)[1].
- MathShepherdFormat: `question step1 ки\\nstep2 ки ...`; causal LM; score = P("+") against P("-") at each `ки`.
- RLHFlowFormat (RLHFlow Llama3.1-8B-PRM): chat turns, user = a step (the first with the question),
  assistant = "+"; score = P("+") against P("-") from the logits that predict each assistant "+".
- ValueHeadFormat (Skywork-PRM style): `question\\nstep1\\nstep2\\n...`; a one-output token head; score =
  sigmoid(value at the separator ending each step).
Knows nothing about batching, devices or FLOPs (see ttc.verifiers.prm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from ttc.contracts.errors import ConfigError

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class TokenIds:
    """The token ids a format reads: its step tag and its good/bad label tokens (None where unused)."""

    tag: int | None = None
    good: int | None = None
    bad: int | None = None


@runtime_checkable
class PRMFormat(Protocol):
    """One PRM input format: what it needs of a tokenizer, how it encodes, how it reads scores."""

    name: str
    causal_lm: bool

    def token_ids(self, tokenizer: Any) -> TokenIds:
        """The ids this format reads; a ConfigError naming the missing token otherwise."""

    def encode(self, tokenizer: Any, ids: TokenIds, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """Input ids of one solution and the positions whose outputs are its step scores."""

    def scores(self, at: torch.Tensor, ids: TokenIds) -> torch.Tensor:
        """P(good) per step from the model's outputs at the score positions (steps x outputs)."""


def single_token(tokenizer: Any, text: str, what: str, fmt: str) -> int:
    """The one token id `text` encodes to, or a ConfigError saying this is not that format's tokenizer."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        raise ConfigError(f"verifier.model: the tokenizer has no single token for the {fmt} {what} "
                          f"{text!r} (it encodes to {ids}); this is not a {fmt} PRM tokenizer")
    return ids[0]


def need_template(tokenizer: Any, fmt: str) -> None:
    """Refuse a tokenizer without a chat template for a format that reads conversations."""
    if not tokenizer.chat_template:
        raise ConfigError(f"verifier.model: the {fmt} format needs the tokenizer's chat template, "
                          f"and this tokenizer has none")


def chat_ids(tokenizer: Any, messages: list[dict]) -> list[int]:
    """Token ids of a conversation under the tokenizer's chat template."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=False)
    return list(out["input_ids"] if hasattr(out, "keys") else out)  # a BatchEncoding in newer transformers


def plus_minus(at: torch.Tensor, ids: TokenIds) -> torch.Tensor:
    """P("+") against P("-") from next-token logits."""
    return at[:, [ids.good, ids.bad]].softmax(-1)[:, 0]


class QwenFormat:
    """Qwen2.5-Math-PRM: `<extra_0>` after every step in the assistant turn; a two-label head."""

    name, causal_lm = "qwen", False

    def __init__(self, step_tag: str = "<extra_0>") -> None:
        self.tag = step_tag

    def token_ids(self, tokenizer: Any) -> TokenIds:
        """PRMFormat.token_ids: the ids this format reads, or a ConfigError naming the missing token."""
        ids = TokenIds(tag=single_token(tokenizer, self.tag, "step tag", self.name))
        need_template(tokenizer, self.name)
        return ids

    def encode(self, tokenizer: Any, ids: TokenIds, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """PRMFormat.encode: input ids of one solution and the positions of its step scores."""
        msgs = [{"role": "system", "content": QWEN_SYSTEM}, {"role": "user", "content": prompt},
                {"role": "assistant", "content": self.tag.join(steps) + self.tag}]
        out = chat_ids(tokenizer, msgs)
        return out, [i for i, t in enumerate(out) if t == ids.tag]

    def scores(self, at: torch.Tensor, ids: TokenIds) -> torch.Tensor:
        """PRMFormat.scores: P(good) per step from the outputs at the score positions."""
        return at.softmax(-1)[:, 1]


class MathShepherdFormat:
    """Math-Shepherd: `ки` after every step; a causal LM that predicts "+" or "-" there."""

    name, causal_lm = "math_shepherd", True

    def __init__(self, step_tag: str = "ки") -> None:
        self.tag = step_tag

    def token_ids(self, tokenizer: Any) -> TokenIds:
        """PRMFormat.token_ids: the ids this format reads, or a ConfigError naming the missing token."""
        return TokenIds(tag=single_token(tokenizer, self.tag, "step tag", self.name),
                        good=single_token(tokenizer, "+", "label", self.name),
                        bad=single_token(tokenizer, "-", "label", self.name))

    def encode(self, tokenizer: Any, ids: TokenIds, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """PRMFormat.encode: input ids of one solution and the positions of its step scores."""
        out = tokenizer.encode(f"{prompt} " + "".join(f"{s} {self.tag}\n" for s in steps))
        return out, [i for i, t in enumerate(out) if t == ids.tag]

    def scores(self, at: torch.Tensor, ids: TokenIds) -> torch.Tensor:
        """PRMFormat.scores: P(good) per step from the outputs at the score positions."""
        return plus_minus(at, ids)


class RLHFlowFormat:
    """RLHFlow's Llama3.1-8B PRM: one user turn per step, each answered "+" by the assistant."""

    name, causal_lm = "rlhflow", True

    def token_ids(self, tokenizer: Any) -> TokenIds:
        """PRMFormat.token_ids: the ids this format reads, or a ConfigError naming the missing token."""
        ids = TokenIds(good=single_token(tokenizer, "+", "label", self.name),
                       bad=single_token(tokenizer, "-", "label", self.name))
        need_template(tokenizer, self.name)
        return ids

    def encode(self, tokenizer: Any, ids: TokenIds, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """PRMFormat.encode: input ids of one solution and the positions of its step scores."""
        conv, marks, out = [], [], []
        for k, s in enumerate(steps):  # each turn's prefix is a prefix of the whole conversation
            conv += [{"role": "user", "content": f"{prompt} {s}" if k == 0 else s}, {"role": "assistant", "content": "+"}]
            out = chat_ids(tokenizer, conv)
            marks.append(max(i for i, t in enumerate(out) if t == ids.good) - 1)  # the logits predicting "+"
        return out, marks

    def scores(self, at: torch.Tensor, ids: TokenIds) -> torch.Tensor:
        """PRMFormat.scores: P(good) per step from the outputs at the score positions."""
        return plus_minus(at, ids)


class ValueHeadFormat:
    """Skywork-PRM style: the question and each step end with a separator; a one-output value head."""

    name, causal_lm = "value_head", False

    def __init__(self, step_tag: str = "\n") -> None:
        self.tag = step_tag

    def token_ids(self, tokenizer: Any) -> TokenIds:
        """PRMFormat.token_ids: the ids this format reads, or a ConfigError naming the missing token."""
        return TokenIds(tag=single_token(tokenizer, self.tag, "step tag", self.name))

    def encode(self, tokenizer: Any, ids: TokenIds, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """PRMFormat.encode: input ids of one solution and the positions of its step scores."""
        out, marks = tokenizer.encode(prompt + self.tag), []
        for s in steps:
            out += tokenizer.encode(s, add_special_tokens=False) + [ids.tag]
            marks.append(len(out) - 1)
        return out, marks

    def scores(self, at: torch.Tensor, ids: TokenIds) -> torch.Tensor:
        """PRMFormat.scores: P(good) per step from the outputs at the score positions."""
        return at[:, 0].sigmoid()
