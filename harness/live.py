"""The run loop's side of the W&B mirror: live points while a run works, the final tables when it ends, and
never a failed run: the first W&B error becomes one warning line and the mirror goes quiet (the run directory
is the record; rerunning the same command mirrors a finished run again)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ttc.contracts.rundir import write_atomic

MARKER = "logged.json"


@runtime_checkable
class LiveLogger(Protocol):
    """A logger that can mirror a run while it runs (ttc.harness.wandb_log.WandbLogger)."""

    def start(self, run_dir: Path, config: dict, group: str | None = None, where: Path | None = None) -> Any:
        """Begin mirroring `run_dir`; returns a handle with progress(), finish() and abandon()."""
        ...


def _warn(run_dir: Path, err: Exception) -> None:
    print(f"ttc: warning: the W&B mirror failed ({type(err).__name__}: {str(err)[:160]}); the run directory "
          f"{run_dir} is complete; rerun the same command to mirror it", file=sys.stderr)


class Mirror:
    """Safe calls into a live W&B run; inert when there is no logger, the run was mirrored, or W&B failed."""

    def __init__(self, logger: Any, run_dir: Path, config: dict, group: str | None, where: Path | None) -> None:
        self.run_dir, self.handle, self.fresh, self.right, self.flops, self.tokens = run_dir, None, 0, 0, 0.0, 0
        self.done, self.total, self.where = 0, 0, where
        if isinstance(logger, LiveLogger) and not (run_dir / MARKER).exists():
            try:
                self.handle = logger.start(run_dir, config, group, where)
            except Exception as err:  # W&B is a mirror: its faults must not cost the results
                _warn(run_dir, err)

    def count(self, lines: list[dict], done: int, total: int) -> None:
        """Count one problem's sample lines; after the batch, `push` logs the totals."""
        self.fresh += 1
        self.right += sum(1 for x in lines if x["selected"] and x["correct"])
        self.flops += lines[0]["ledger"].get("generator_flops", 0.0) + lines[0]["ledger"].get("verifier_flops", 0.0)
        self.tokens += int(lines[0]["ledger"].get("generated_tokens", 0))
        self.done, self.total = done, total

    def push(self) -> None:
        """Log the running totals (accuracy over the problems computed in this process)."""
        if self.handle is None or not self.fresh:
            return
        self._safe(lambda: self.handle.progress(self.done, self.total, self.right, self.flops, self.tokens,
                                                self.fresh))

    def finish(self, config: dict, rows: list[dict], samples: list[dict]) -> str | None:
        """Log the final tables and close; the marker `logged.json` names where the W&B run went, which is
        returned when it is an offline run (to be uploaded with `wandb sync`)."""
        if self.handle is None:
            return None
        offline = self.handle.mode == "offline"
        where = self._safe(lambda: self.handle.finish(self.run_dir, config, rows, samples))
        self.handle = None
        if where:
            write_atomic(self.run_dir / MARKER, json.dumps({"wandb": where}) + "\n")
        return where if offline else None

    def abandon(self) -> None:
        """Close the W&B run of a run that stopped early."""
        if self.handle is not None:
            self._safe(self.handle.abandon)
            self.handle = None

    def _safe(self, call) -> Any:
        try:
            return call()
        except Exception as err:
            _warn(self.run_dir, err)
            self.handle = None
            return None
