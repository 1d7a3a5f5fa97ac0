"""The difficulty probe: a problem's predicted difficulty is its verifier's mean score over the first `m` samples
of its pool, and what the probe costs is the prompt once plus those m samples' generation and verifier FLOPs.
Reads sample lines; ttc.analysis.optimal cuts the scores into bins.
"""

from __future__ import annotations

import numpy as np

from ttc.contracts.samples import SampleLine


def probe_problem(pool: list[SampleLine], m: int) -> tuple[float, float] | None:
    """(mean verifier score over the first m candidates, probe FLOPs) of one problem's lines sorted by candidate;
    None where one of them has no score."""
    first = pool[:m]
    if any(c["verifier_score"] is None for c in first):
        return None
    return float(np.mean([c["verifier_score"] for c in first])), sum(c["prompt_flops"] for c in pool) + sum(
        c["flops"] - c["prompt_flops"] + c["verifier_flops"] for c in first)
