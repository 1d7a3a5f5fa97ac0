"""Model cards (what FLOPs need to know about a model) and FLOPs accounting (forward cost per token, 6ND for pretraining).

Forward FLOPs of one token at context position c (it attends to c keys, itself included):
    2 * N_nonembedding                     every weight matrix of every layer (Kaplan et al.'s 2N)
  + 4 * layers * c * attention_dim         both attention matmuls, q.k and attention-weights.v, over the
                                           causal prefix (attention_dim = heads x head_dim; grouped-query
                                           attention shares keys and values but not these products)
  + 2 * vocab_size * hidden_size           the output projection, only at positions whose logits are used
Measured against torch's FlopCounterMode in tests/test_flops.py (cached decode exact; a prefill's masked
upper triangle, which non-causal kernels also compute, is implementation waste and not charged).
Generating g tokens after a prompt of p runs p prompt positions (logits at the last only) and g - 1 decode
positions: the last token is sampled, never fed back. Norms, rotary embeddings and softmax are left out
(under 0.5% here). Knows nothing about generation or strategies: it turns token counts at positions into FLOPs.
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
    attention_dim: int | None = None  # heads x head_dim; None: hidden_size
    vocab_size: int = 0  # rows of the output projection (0: not counted, e.g. an old run.json's card)

    @property
    def pretraining_flops(self) -> float | None:
        """6 N D, with N the non-embedding parameters and D the training tokens."""
        if self.training_tokens is None:
            return None
        return 6.0 * self.non_embedding_parameters * self.training_tokens

    def span_flops(self, start: int, count: int, logits: int | None = None) -> float:
        """Forward FLOPs of `count` tokens at positions start+1 .. start+count (each attends to its prefix),
        with the output projection at `logits` of them (None: at all of them, as scoring reads)."""
        if count <= 0:
            return 0.0
        positions_sum = count * start + count * (count + 1) / 2
        attention = 4.0 * self.layers * (self.attention_dim or self.hidden_size) * positions_sum
        output = 2.0 * self.vocab_size * self.hidden_size * (count if logits is None else logits)
        return 2.0 * self.non_embedding_parameters * count + attention + output

    def generation_flops(self, prompt: int, cached: int, generated: int) -> tuple[float, float]:
        """(prompt FLOPs, total FLOPs) of generating `generated` tokens after `prompt` tokens of which
        `cached` were already in the KV cache: the uncached prompt positions (logits at the last only, and
        none when the whole prompt was cached, its next-token distribution shared), then `generated` - 1
        decode positions (the last token is sampled, never fed back)."""
        fresh = prompt - cached
        prompt_flops = self.span_flops(cached, fresh, logits=1) if fresh > 0 else 0.0
        steps = max(generated - 1, 0)
        return prompt_flops, prompt_flops + self.span_flops(prompt, steps, logits=steps)


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
            training_tokens=data.get("training_tokens"), vocab_size=int(data.get("vocab_size", 0)),
            attention_dim=data.get("attention_dim") or _attention_dim(path / "config.json"),
        )
    return card_from_config(json.loads((path / "config.json").read_text()), name or path.name)


def with_fields(card: ModelCard, fields: dict | None, field: str = "generator.card") -> ModelCard:
    """The card with the given fields replaced (a config's published facts, e.g. pretraining tokens)."""
    if not fields:
        return card
    known = {"non_embedding_parameters", "layers", "hidden_size", "context", "training_tokens", "attention_dim",
             "vocab_size"}
    bad = sorted(set(fields) - known)
    if bad:
        raise ConfigError(f"{field}.{bad[0]} is not a card field; valid fields: {', '.join(sorted(known))}")
    return dataclasses.replace(card, **{k: None if v is None else int(float(v)) for k, v in fields.items()})


def _attention_dim(config_file: Path) -> int | None:
    if not config_file.exists():
        return None
    cfg = json.loads(config_file.read_text())
    cfg = cfg.get("text_config", cfg)
    heads = int(cfg["num_attention_heads"])
    return heads * int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads)


def card_from_config(cfg: dict, name: str) -> ModelCard:
    """A card from a HF `config.json` dict (models we did not train: no training tokens). Grouped-query
    attention: keys and values project to kv_heads x head_dim; queries and the output to heads x head_dim."""
    cfg = cfg.get("text_config", cfg)
    hidden, layers = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
    inter = int(cfg.get("intermediate_size", 4 * hidden))
    heads, kv = int(cfg["num_attention_heads"]), int(cfg.get("num_key_value_heads") or cfg["num_attention_heads"])
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    attn = 2 * hidden * heads * head_dim + 2 * hidden * kv * head_dim
    return ModelCard(
        name=name, non_embedding_parameters=layers * (attn + 3 * hidden * inter),
        layers=layers, hidden_size=hidden, context=int(cfg.get("max_position_embeddings", 2048)),
        attention_dim=heads * head_dim, vocab_size=int(cfg.get("vocab_size", 0)),
    )
