"""What a run directory records about the run beside its config: the meta fields every sample line carries
(ttc.contracts.samples.RunMeta) and the generator's model card. One place for a batch run (ttc.harness.run) and a
served day (ttc.harness.serve_record), so the two records cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ttc.contracts.protocols import Carded


def run_meta(task: Any, strategy: str, generator: Any, verifier: Any, seed: int, selection: str | None) -> dict:
    """The meta fields of a run's sample lines: task (name and versions), strategy, generator, verifier ("none"
    without one), run seed and the selection rule applied."""
    return {"task": task.name, "task_version": task.version, "grader_version": task.grader_version,
            "strategy": strategy, "generator": generator.name, "run_seed": int(seed),
            "verifier": verifier.name if verifier is not None else "none", "selection": selection}


def card_record(generator: Any) -> dict | None:
    """The generator's model card as run.json records it (None: a generator without one)."""
    return dataclasses.asdict(generator.card) if isinstance(generator, Carded) and generator.card is not None else None
