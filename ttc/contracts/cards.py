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
(under 0.5% here).

Memory traffic (issue 37; Kinetics, Sadhukhan et al. 2025, cost_model/utils.py `dense_cost`): decoding is bound
by memory, not arithmetic. A decode position c reads every cached key and value of its prefix:
    kv bytes(c) = 2 (K and V) * layers * kv_dim * c * bytes_per_element      kv_dim = kv_heads x head_dim
(grouped-query attention shares keys and values: kv_dim, not attention_dim). `generation_kv_bytes` sums it over
a generation's decode positions (the prefill is compute-bound and left out, as Kinetics leaves it), per
candidate: no prefix sharing between samples is assumed, which is what a batch of separate rows reads (an engine
that shares a prompt's blocks between samples reads less). Weight reads are a second term, which Kinetics leaves
out because they depend on the batch, not on the candidate:
    weight bytes of a forward = (N_nonembedding + vocab_size * hidden_size) * bytes_per_element
(every weight matrix, and the output projection; the input embedding is a lookup of a few rows). A forward's read
is shared by the rows it computes, so an engine that sees its batches (the HF engine) books each candidate its
share: 1/rows of every forward it took part in (`Completion.weight_bytes`). Engines that batch out of ttc's sight
(vLLM, an API) book none.
`eflops` = FLOPs + kv bytes x the hardware's FLOPs per byte (peak FLOP/s over memory bandwidth, HARDWARE), as
Kinetics defines it (KV reads only).
Checked against Kinetics' formula and a direct count of a real KV cache in tests/test_memory_traffic.py.
Knows nothing about generation or strategies: it turns token counts at positions into FLOPs and bytes.
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
    kv_dim: int | None = None  # kv_heads x head_dim (what the KV cache holds per layer and token); None: attention_dim

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


    def kv_read_bytes(self, start: int, count: int, bytes_per_element: int = 2) -> float:
        """Bytes of keys and values read by `count` tokens at positions start+1 .. start+count, each reading its
        whole prefix (itself included) from the KV cache."""
        if count <= 0:
            return 0.0
        positions_sum = count * start + count * (count + 1) / 2
        kv_dim = self.kv_dim or self.attention_dim or self.hidden_size
        return 2.0 * self.layers * kv_dim * positions_sum * bytes_per_element

    def forward_weight_bytes(self, bytes_per_element: int = 2) -> float:
        """Bytes of weights one forward reads: every non-embedding matrix and the output projection, once, however
        many rows the forward computes."""
        return float(self.non_embedding_parameters + self.vocab_size * self.hidden_size) * bytes_per_element

    def generation_kv_bytes(self, prompt: int, generated: int, bytes_per_element: int = 2) -> float:
        """KV bytes the `generated` - 1 decode positions after a `prompt`-token prefix read (the prefill and the
        last, never fed back, sampled token read none here)."""
        return self.kv_read_bytes(prompt, max(generated - 1, 0), bytes_per_element)


# Peak dense FLOP/s (bf16/fp16 tensor cores) and memory bandwidth in bytes/s, from the vendors' data sheets:
# their ratio is what a byte of memory traffic costs in FLOPs' time (Kinetics' eFLOPs weight).
HARDWARE = {"h100": (989e12, 3.35e12), "a100": (312e12, 2.039e12), "l4": (121e12, 0.3e12)}


def flops_per_byte(hardware: str) -> float:
    """A hardware profile's FLOPs per byte of memory traffic (peak FLOP/s over bandwidth)."""
    if hardware not in HARDWARE:
        raise ConfigError(f"cost.hardware={hardware} is not a known profile; choose one of: {', '.join(HARDWARE)}")
    flops, bandwidth = HARDWARE[hardware]
    return flops / bandwidth


def eflops(flops: float, kv_bytes: float, hardware: str) -> float:
    """Kinetics' eFLOPs: the FLOPs plus the memory traffic weighted by the hardware's FLOPs per byte."""
    return flops + kv_bytes * flops_per_byte(hardware)


def pretraining_flops(card: dict | None) -> float | None:
    """The pretraining FLOPs of a model card as recorded in run.json (None without a card)."""
    return ModelCard(**card).pretraining_flops if card else None


def load_card(path: str | Path, name: str | None = None) -> ModelCard:
    """The card of a local model directory: `card.json` if present, else read from `config.json`."""
    path = Path(path)
    card_file = path / "card.json"
    if card_file.exists():
        data, dims = json.loads(card_file.read_text()), _head_dims(path / "config.json")
        return ModelCard(
            name=name or data["name"], non_embedding_parameters=int(data["non_embedding_parameters"]),
            layers=int(data["layers"]), hidden_size=int(data["hidden_size"]), context=int(data["context"]),
            training_tokens=data.get("training_tokens"), vocab_size=int(data.get("vocab_size", 0)),
            attention_dim=data.get("attention_dim") or dims[0], kv_dim=data.get("kv_dim") or dims[1],
        )
    return card_from_config(json.loads((path / "config.json").read_text()), name or path.name)


def with_fields(card: ModelCard, fields: dict | None, field: str = "generator.card") -> ModelCard:
    """The card with the given fields replaced (a config's published facts, e.g. pretraining tokens)."""
    if not fields:
        return card
    known = {"non_embedding_parameters", "layers", "hidden_size", "context", "training_tokens", "attention_dim",
             "vocab_size", "kv_dim"}
    bad = sorted(set(fields) - known)
    if bad:
        raise ConfigError(f"{field}.{bad[0]} is not a card field; valid fields: {', '.join(sorted(known))}")
    return dataclasses.replace(card, **{k: None if v is None else int(float(v)) for k, v in fields.items()})


def _head_dims(config_file: Path) -> tuple[int | None, int | None]:
    """(attention_dim, kv_dim) from a HF config.json (heads and KV heads x head_dim); (None, None) without one."""
    if not config_file.exists():
        return None, None
    cfg = json.loads(config_file.read_text())
    cfg = cfg.get("text_config", cfg)
    heads = int(cfg["num_attention_heads"])
    head_dim = int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads)
    return heads * head_dim, int(cfg.get("num_key_value_heads") or heads) * head_dim


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
        attention_dim=heads * head_dim, vocab_size=int(cfg.get("vocab_size", 0)), kv_dim=kv * head_dim,
    )
