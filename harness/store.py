"""The run directory: resolved config, run metadata and the append-only per-sample record.

`samples.jsonl` has one line per problem x candidate; all lines of a problem are written with one
`write`, flushed and fsynced, so a kill leaves at most one torn block at the end, which `done_ids`
cuts off. Whole files (config, curves, plots) are written to a temporary name and renamed.
Knows nothing about models or strategies beyond the records it serialises (and the fingerprints it is given).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from functools import reduce
from pathlib import Path

from harness.errors import ConfigError
from harness.records import Problem, ProblemResult

SAMPLES = "samples.jsonl"
VOLATILE = ("wall_s",)  # fields that legitimately differ between an interrupted and an uninterrupted run


def write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.samples_path = self.root / SAMPLES

    def recorded(self, config: dict, models: dict[str, str] | None = None) -> dict | None:
        """The run.json record if this directory already holds this run; refuse one holding another run:
        another config, or local models (`models`: config key -> fingerprint) whose files have changed."""
        path = self.root / "run.json"
        if not path.exists():
            return None
        old = json.loads(path.read_text())
        if old.get("config") != config:
            raise ConfigError(
                f"run directory {self.root} holds a run with a different config; "
                f"pass hydra.run.dir=NEW_DIR or delete it"
            )
        for key, fingerprint in sorted((old.get("models") or {}).items()):
            if key in (models or {}) and models[key] != fingerprint:
                value = reduce(lambda node, part: node.get(part) if isinstance(node, dict) else None,
                               key.split("."), config)
                raise ConfigError(
                    f"run directory {self.root} holds samples made with {key}={value} before its files changed "
                    f"(retrained or replaced); pass hydra.run.dir=NEW_DIR or delete it"
                )
        return old

    def bind(self, config: dict, meta: dict) -> None:
        """Record what this run is; refuse a directory that holds a different run."""
        if self.recorded(config, meta.get("models")) is None:
            record = {"config": config, **meta}
            write_atomic(self.root / "run.json", json.dumps(record, indent=2, sort_keys=True) + "\n")

    def done_ids(self) -> set[str]:
        """Ids of problems whose every candidate line is on disk; a torn tail is truncated away."""
        if not self.samples_path.exists():
            return set()
        done, seen, good_end, offset = set(), {}, 0, 0
        with open(self.samples_path, "rb") as fh:
            for raw in fh:
                offset += len(raw)
                if not raw.endswith(b"\n"):
                    break
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    break
                pid = line["problem_id"]
                seen[pid] = seen.get(pid, 0) + 1
                if seen[pid] == line["n_candidates"]:
                    done.add(pid)
                    good_end = offset
        if good_end != self.samples_path.stat().st_size:
            with open(self.samples_path, "r+b") as fh:
                fh.truncate(good_end)
        return done

    def append(self, lines: list[dict]) -> None:
        blob = "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines)
        with open(self.samples_path, "a", encoding="utf-8") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())

    def samples(self) -> list[dict]:
        if not self.samples_path.exists():
            return []
        return [json.loads(x) for x in self.samples_path.read_text().splitlines() if x.strip()]


def sample_lines(problem: Problem, result: ProblemResult, correct: list[bool], meta: dict) -> list[dict]:
    """One JSON-ready dict per candidate of a problem; the problem's ledger rides on every line."""
    ledger = asdict(result.ledger)
    lines = []
    for i, (cand, ok) in enumerate(zip(result.candidates, correct)):
        c, v = cand.completion, cand.verdict
        lines.append({
            **meta, "problem_id": problem.id, "difficulty": problem.difficulty, "candidate": i,
            "n_candidates": len(result.candidates), "selected": i == result.selected,
            "budget": result.budget.amount, "budget_unit": result.budget.unit, "seed": c.seed,
            "text": c.text, "answer": cand.answer, "correct": ok, "prompt_tokens": c.prompt_tokens,
            "cached_tokens": c.cached_tokens, "generated_tokens": c.generated_tokens,
            "logprob": round(c.logprob, 6), "finish_reason": c.finish_reason, "flops": c.flops,
            "prompt_flops": c.prompt_flops, "verifier_score": None if v is None else round(v.score, 8),
            "verifier_tokens": 0 if v is None else v.tokens, "verifier_flops": 0.0 if v is None else v.flops,
            "step_scores": None if v is None or v.step_scores is None else list(v.step_scores),
            "info": cand.info, "ledger": ledger,
        })
    return lines
