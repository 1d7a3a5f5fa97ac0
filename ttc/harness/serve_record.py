"""A served day is a run: with `serve.record=DIR`, every answered request's candidates go to `DIR/PRESET`, a run
directory in the sample-line schema (ttc.contracts.samples): run.json (the served config with the preset's
strategy, `"served": true`) and samples.jsonl (the prompt, every candidate with its verifier score and info, the
selection, the ledger), appended request by request, fsynced, as a run appends problems.

Served traffic has no reference: its lines have none and `correct: null`. `ttc curves task=NAME
pool=DIR/PRESET/samples.jsonl` grades the traffic whose `ttc.problem_id` is one of the task's problem ids against
the task's own references, into a run directory `ttc report` reads; `ttc grade task=NAME samples=...` reads it too.
`ttc report` refuses the ungraded directory itself in one line saying so. A restarted server appends to the same
directories; one holding another config is refused, as a run's is.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ttc.contracts.protocols import Carded
from ttc.contracts.records import Problem, ProblemResult
from ttc.contracts.samples import sample_lines
from ttc.harness.provenance import provenance
from ttc.harness.store import RunStore


class Recorder:
    """The run directories of one served configuration, one per preset, bound on first use."""

    def __init__(self, root: str | Path, cfg: DictConfig, task: Any, generator: Any, verifier: Any) -> None:
        self.root, self.cfg, self.task, self.generator, self.verifier = Path(root), cfg, task, generator, verifier
        self.stores: dict[str, tuple[RunStore, dict]] = {}
        self.count: dict[str, int] = {}  # requests recorded per preset (the next line's problem_index)
        self.lock = threading.Lock()

    def record(self, preset: str, node: DictConfig, strategy: Any, problems: list[Problem],
               results: list[ProblemResult]) -> None:
        """Append one strategy call's answered requests to the preset's run directory."""
        with self.lock:
            store, meta = self.stores.get(preset) or self._bind(preset, node, strategy)
            for problem, result in zip(problems, results):
                lines = sample_lines(problem, result, [None] * len(result.candidates),
                                     {**meta, "problem_index": self.count[preset]})
                store.append([{k: v for k, v in line.items() if k != "reference"} for line in lines])
                self.count[preset] += 1

    def _bind(self, preset: str, node: DictConfig, strategy: Any) -> tuple[RunStore, dict]:
        store = RunStore(self.root / preset)
        config = OmegaConf.to_container(self.cfg, resolve=True)
        config["strategy"] = OmegaConf.to_container(node, resolve=True)
        if config["serve"].get("api_key"):
            config["serve"]["api_key"] = "(set)"  # never written down
        meta = {"task": self.task.name, "task_version": self.task.version, "grader_version": self.task.grader_version,
                "strategy": strategy.name, "generator": self.generator.name, "run_seed": int(self.cfg.seed),
                "verifier": self.verifier.name if self.verifier is not None else "none",
                "selection": node.get("selection")}
        card = self.generator.card if isinstance(self.generator, Carded) else None
        store.bind(config, {"meta": meta, "served": True, "provenance": provenance(),
                            "card": dataclasses.asdict(card) if card is not None else None})
        self.stores[preset] = (store, meta)
        self.count[preset] = len(store.resume())  # a server killed mid-write leaves a torn end: cut, as a run's is
        return store, meta
