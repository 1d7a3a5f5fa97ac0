"""A served day is a run: with `serve.record=DIR`, every answered request's candidates go to `DIR/PRESET`, a run
directory in the sample-line schema (ttc.contracts.samples): run.json (the served config with the preset's
strategy, `"served": true`) and samples.jsonl (the prompt, every candidate with its verifier score and info, the
selection, the ledger), appended request by request, fsynced, as a run appends problems.

Served traffic has no reference: its lines have none and `correct: null`. `ttc curves task=NAME
pool=DIR/PRESET/samples.jsonl` grades the traffic whose `ttc.problem_id` is one of the task's problem ids against
the task's own references, into a run directory `ttc report` reads; `ttc grade task=NAME samples=...` reads it too.
`ttc report` refuses the ungraded directory itself in one line saying so. Each request is recorded under its own
problem id: the request's, or id~k for its k-th repeat (a repeated prompt), so no reader merges two requests.
A restarted server appends to the same directories (its port, timeouts and queue may change); one holding
another task, model, verifier, seed, preset or prompt format is refused at start, as a run's is. A failure
to record is one line on stderr; the answer is still sent.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ttc.contracts.records import Problem, ProblemResult
from ttc.contracts.samples import sample_lines
from ttc.harness.meta import card_record, run_meta
from ttc.harness.provenance import provenance
from ttc.harness.store import RunStore


IDENTITY = ("task", "generator", "verifier", "seed")  # what the served answers depend on, beside the preset


class Recorder:
    """The run directories of one served configuration, one per preset (`presets`: name -> (its strategy config,
    its strategy), all bound at once, so a directory holding another configuration is refused at start)."""

    def __init__(self, root: str | Path, cfg: DictConfig, task: Any, generator: Any, verifier: Any,
                 presets: dict[str, tuple[DictConfig, Any]]) -> None:
        self.root, self.cfg, self.task, self.generator, self.verifier = Path(root), cfg, task, generator, verifier
        self.stores: dict[str, tuple[RunStore, dict]] = {}
        self.taken: dict[str, set[str]] = {}  # problem ids on record per preset (a repeated prompt gets id~k)
        self.lock = threading.Lock()
        for name, (node, strategy) in presets.items():
            self._bind(name, node, strategy)

    def record(self, preset: str, problems: list[Problem], results: list[ProblemResult]) -> None:
        """Append one strategy call's answered requests to the preset's run directory, each under its own id: the
        request's problem id, or id~k for its k-th repeat (ttc curves pools repeats under the task's id)."""
        with self.lock:
            (store, meta), taken = self.stores[preset], self.taken[preset]
            for problem, result in zip(problems, results):
                pid = problem.id
                k = 0
                while pid in taken:
                    k += 1
                    pid = f"{problem.id}~{k}"
                taken.add(pid)
                lines = sample_lines(dataclasses.replace(problem, id=pid), result, [None] * len(result.candidates),
                                     {**meta, "problem_index": len(taken) - 1})
                store.append([{k: v for k, v in line.items() if k != "reference"} for line in lines])

    def _bind(self, preset: str, node: DictConfig, strategy: Any) -> None:
        store = RunStore(self.root / preset)
        whole = OmegaConf.to_container(self.cfg, resolve=True)
        config = {k: whole.get(k) for k in IDENTITY}  # not the port, timeouts or queue: a restart may change them
        config["strategy"] = OmegaConf.to_container(node, resolve=True)
        config["serve"] = {k: whole["serve"].get(k) for k in ("template", "chat_tokenizer")}
        meta = run_meta(self.task, strategy.name, self.generator, self.verifier, self.cfg.seed, node.get("selection"))
        store.bind(config, {"meta": meta, "served": True, "provenance": provenance(),
                            "card": card_record(self.generator)})
        self.stores[preset] = (store, meta)
        self.taken[preset] = store.resume()  # a server killed mid-write leaves a torn end: cut, as a run's is
