"""What the generators that decode one HF model with a second model's help share (ttc.generators.speculative:
target and draft, ttc.generators.contrastive: expert and amateur): both must share a tokenizer, and text is encoded,
scored and carded by the first. Knows nothing about tasks or strategies.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ttc.contracts.cards import ModelCard
from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Scored
from ttc.generators.hf import HFGenerator


class PairedGenerator:
    """A main HFGenerator decoded with a helper's: `card`, `encode` and `score` are the main model's (the pair
    changes how it decodes, not what its probabilities are); the name defaults to "<main>-<tag>-<helper>"."""

    def __init__(self, main: HFGenerator, helper: HFGenerator, roles: tuple[str, str], models: tuple[str, str],
                 tag: str, name: str | None, max_batch_rows: int, device: str) -> None:
        if main.tokenizer.get_vocab() != helper.tokenizer.get_vocab():
            raise ConfigError(f"generator.{roles[1]}={models[1]} does not share the tokenizer of "
                              f"generator.{roles[0]}={models[0]}")
        self.main = main
        self.max_rows, self.device = int(max_batch_rows), torch.device(device)
        self.card: ModelCard = main.card
        self.name = name or f"{main.name}-{tag}-{helper.name}"

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text (the shared tokenizer)."""
        return self.main.encode(text, special)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """Generator.score: the main model's log-probability (speculation changes how it decodes, not its model;
        contrastive scores are not probabilities)."""
        return self.main.score(prompts, continuations)
