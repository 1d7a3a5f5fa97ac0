"""Epsilon truncation (Hewitt et al., 2022) as a vLLM logits processor; imported by vLLM's engine by name.

Per request it reads `extra_args={"epsilon": e, "t": temperature}` and removes tokens whose tempered
probability is below e, never the most likely one. Imports vLLM: load it only where vLLM is installed.
"""

from __future__ import annotations

from typing import Callable

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor


def epsilon_mask(epsilon: float, temperature: float) -> Callable[[list[int], torch.Tensor], torch.Tensor]:
    """A per-request processor: logits with tokens below `epsilon` (after temperature) set to -inf."""

    def apply(_output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        probs = (logits.float() / max(temperature, 1e-6)).softmax(-1)
        return logits.masked_fill((probs < epsilon) & (probs < probs.max()), float("-inf"))

    return apply


class EpsilonTruncation(AdapterLogitsProcessor):
    """Epsilon sampling inside vLLM: drops tokens whose probability is below `epsilon`."""

    def is_argmax_invariant(self) -> bool:
        """Epsilon truncation never removes the argmax token, so greedy decoding is unaffected."""
        return True  # the most likely token is never removed

    def new_req_logits_processor(self, params):
        """The per-request processor for a request's epsilon (None where epsilon is 0)."""
        extra = params.extra_args or {}
        return epsilon_mask(float(extra["epsilon"]), float(extra["t"])) if extra.get("epsilon") else None
