"""What the generators that decode one HF model with a second model's help share (ttc.generators.speculative:
target and draft, ttc.generators.contrastive: expert and amateur): both must share a tokenizer, and the pair is
named after both. Each of them holds its two HFGenerators and encodes, scores and cards text with the first (the
pair changes how it decodes, not what its probabilities are). Knows nothing about tasks or strategies.
"""

from __future__ import annotations

from ttc.contracts.errors import ConfigError
from ttc.generators.hf import HFGenerator


def pair_name(main: HFGenerator, helper: HFGenerator, roles: tuple[str, str], models: tuple[str, str], tag: str,
              name: str | None) -> str:
    """The pair's name, `name` or "<main>-<tag>-<helper>"; a ConfigError if the helper (config key roles[1], model
    models[1]) does not share the main model's tokenizer."""
    if main.tokenizer.get_vocab() != helper.tokenizer.get_vocab():
        raise ConfigError(f"generator.{roles[1]}={models[1]} does not share the tokenizer of "
                          f"generator.{roles[0]}={models[0]}")
    return name or f"{main.name}-{tag}-{helper.name}"
