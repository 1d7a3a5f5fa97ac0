"""The run loop's side of the W&B mirror: live points while a run works, the final tables when it ends, and
never a failed run: the first W&B error becomes one warning line and the mirror goes quiet (the run directory
is the record; rerunning the same command mirrors a finished run again).

Where the run is handed a running side worker (ttc.harness.side.SideWorker, given by the `ttc` command), the
W&B run lives there (`SideRun`): W&B's import, its service's start and its logging happen in that process, in
order, while this one generates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ttc.contracts.rundir import write_atomic
from ttc.harness.side import IN_PROCESS, Pending, Side

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
    """Safe calls into a live W&B run; inert when there is no logger, the run was mirrored, or W&B failed. With
    an active `side` worker the W&B run lives in that worker (`SideRun`), else in this process."""

    def __init__(self, logger: Any, run_dir: Path, config: dict, group: str | None, where: Path | None,
                 side: Side = IN_PROCESS) -> None:
        self.run_dir, self.handle, self.fresh, self.right, self.flops, self.tokens = run_dir, None, 0, 0, 0.0, 0
        self.done, self.total, self.where = 0, 0, where
        if isinstance(logger, LiveLogger) and not (run_dir / MARKER).exists():
            try:
                self.handle = (SideRun(side, logger, run_dir, config, group, where) if side.active()
                               else logger.start(run_dir, config, group, where))
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
        handle = self.handle
        where = self._safe(lambda: handle.finish(self.run_dir, config, rows, samples))
        offline = handle.mode == "offline"  # known once the run started (an online one may have fallen back)
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


_RUN: Any = None  # in the side worker: the W&B run it mirrors now


def _start(logger: LiveLogger, run_dir: Path, config: dict, group: str | None, where: Path | None) -> str:
    global _RUN
    _RUN = None
    _RUN = logger.start(run_dir, config, group, where)
    return _RUN.mode


def _progress(*args: Any) -> None:
    if _RUN is not None:
        _RUN.progress(*args)


def _finish(run_dir: Path, config: dict, rows: list[dict], samples: list[dict]) -> tuple[str | None, str]:
    global _RUN
    run, _RUN = _RUN, None
    if run is None:
        raise RuntimeError("the W&B run did not start")
    return run.finish(run_dir, config, rows, samples), run.mode


def _abandon() -> None:
    global _RUN
    run, _RUN = _RUN, None
    if run is not None:
        run.abandon()


class SideRun:
    """A W&B run living in the side worker: each call is queued there, in order, and returns at once; the first
    error among them is raised by the next call (and `Mirror` turns it into its one warning line). `finish`
    waits for everything queued and returns where the run went."""

    def __init__(self, side: Side, logger: LiveLogger, run_dir: Path, config: dict, group: str | None,
                 where: Path | None) -> None:
        self.side = side
        self.mode: str | None = None
        self.pending: list[Pending] = [side.call(_start, logger, run_dir, config, group, where)]

    def _raise(self, wait: bool = False) -> None:
        for future in self.pending:
            if wait or future.done():
                future.result()
        self.pending = [f for f in self.pending if not f.done()]

    def progress(self, *args: Any) -> None:
        """Queue one live point (see LiveRun.progress)."""
        self._raise()
        self.pending.append(self.side.call(_progress, *args))

    def finish(self, run_dir: Path, config: dict, rows: list[dict], samples: list[dict]) -> str | None:
        """Queue the final tables (only selected samples travel: the problems table shows those) and wait."""
        ending = self.side.call(_finish, run_dir, config, rows, [s for s in samples if s.get("selected")])
        self._raise(wait=True)
        where, self.mode = ending.result()
        return where

    def abandon(self) -> None:
        """Close the W&B run of a run that stopped early, and wait for it."""
        self.pending.append(self.side.call(_abandon))
        self._raise(wait=True)
