"""Model cards (what FLOPs need to know about a model) and FLOPs accounting (Kaplan et al.'s forward cost per token, 6ND for pretraining).

Forward FLOPs of one token at context position c: 2 * N_nonembedding + 2 * layers * c * hidden.
Knows nothing about generation or strategies: it turns token counts at known positions into FLOPs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ttc.contracts.errors import ConfigError


@dataclass(frozen=True)
class ModelCard:
    """What FLOPs need to know about a model; `training_tokens` is None for models we did not train."""

    name: str
    non_embedding_parameters: int
    layers: int
    hidden_size: int
    context: int
    training_tokens: int | None = None

    @property
    def pretraining_flops(self) -> float | None:
        """6 N D, with N the non-embedding parameters and D the training tokens."""
        if self.training_tokens is None:
            return None
        return 6.0 * self.non_embedding_parameters * self.training_tokens

    def span_flops(self, start: int, count: int) -> float:
        """Forward FLOPs of `count` tokens at positions start+1 .. start+count (each attends to its prefix)."""
        if count <= 0:
            return 0.0
        positions_sum = count * start + count * (count + 1) / 2
        return 2.0 * self.non_embedding_parameters * count + 2.0 * self.layers * self.hidden_size * positions_sum


def pretraining_flops(card: dict | None) -> float | None:
    """The pretraining FLOPs of a model card as recorded in run.json (None without a card)."""
    return ModelCard(**card).pretraining_flops if card else None


def load_card(path: str | Path, name: str | None = None) -> ModelCard:
    """The card of a local model directory: `card.json` if present, else read from `config.json`."""
    path = Path(path)
    card_file = path / "card.json"
    if card_file.exists():
        data = json.loads(card_file.read_text())
        return ModelCard(
            name=name or data["name"], non_embedding_parameters=int(data["non_embedding_parameters"]),
            layers=int(data["layers"]), hidden_size=int(data["hidden_size"]), context=int(data["context"]),
            training_tokens=data.get("training_tokens"),
        )
    return card_from_config(json.loads((path / "config.json").read_text()), name or path.name)


def with_fields(card: ModelCard, fields: dict | None, field: str = "generator.card") -> ModelCard:
    """The card with the given fields replaced (a config's published facts, e.g. pretraining tokens)."""
    if not fields:
        return card
    known = {"non_embedding_parameters", "layers", "hidden_size", "context", "training_tokens"}
    bad = sorted(set(fields) - known)
    if bad:
        raise ConfigError(f"{field}.{bad[0]} is not a card field; valid fields: {', '.join(sorted(known))}")
    return dataclasses.replace(card, **{k: None if v is None else int(float(v)) for k, v in fields.items()})


def card_from_config(cfg: dict, name: str) -> ModelCard:
    """A card from a HF `config.json` dict (models we did not train: no training tokens)."""
    cfg = cfg.get("text_config", cfg)
    hidden, layers = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
    inter = int(cfg.get("intermediate_size", 4 * hidden))
    heads, kv = int(cfg["num_attention_heads"]), int(cfg.get("num_key_value_heads", cfg["num_attention_heads"]))
    attn = hidden * hidden * 2 + 2 * hidden * (hidden // heads) * kv
    return ModelCard(
        name=name, non_embedding_parameters=layers * (attn + 3 * hidden * inter),
        layers=layers, hidden_size=hidden, context=int(cfg.get("max_position_embeddings", 2048)),
    )
