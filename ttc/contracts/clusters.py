"""AlphaCode's filter-and-cluster submission rule (Li et al. 2022), shared by the strategy and the analysis.

Candidates that fail the public tests are filtered out (all stay when none passes); the survivors are clustered
by identical behaviour on generated inputs; one representative per cluster is submitted, largest clusters
first, up to `m` submissions (10@k in the paper). Ties and representatives are broken by the run's seeded
candidate keys, so the strategy and the analysis submit the same programs. Plain data in, indices out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence


def submissions(members: Sequence[int], passed: Sequence[bool], behaviour: Sequence[str], keys: Sequence[float],
                m: int) -> list[int]:
    """Indices submitted from the candidates `members`: representatives of the m largest clusters."""
    survivors = [i for i in members if passed[i]] or list(members)
    clusters: dict[str, list[int]] = defaultdict(list)
    for i in survivors:
        clusters[behaviour[i]].append(i)
    reps = [max(group, key=lambda i: keys[i]) for group in clusters.values()]
    order = sorted(reps, key=lambda i: (len(clusters[behaviour[i]]), keys[i]), reverse=True)
    return order[:m]
