"""Bubblewrap's command line for one sandboxed program, and the record of whether it can run here.

Pure argument building: ttc.sandbox.process probes it once (`isolation()`) and wraps each program with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class SandboxUnavailable(RuntimeError):
    """Code would run without namespace isolation and the user has not allowed it; the message says how."""


@dataclass(frozen=True)
class Isolation:
    """How programs are wrapped: bubblewrap's argv (up to the command), or None and the reason why not."""

    argv: tuple[str, ...] | None
    why: str = ""


def _system_binds() -> list[str]:
    """A read-only view of the system's programs and libraries: /usr and the top-level links into it."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def bwrap_argv(bwrap: str, python: str, tmp_mb: int = 64) -> tuple[str, ...]:
    """Own PID, network, mount, IPC, UTS and user namespaces; no network at all; the system read-only; a
    private, size-bounded /tmp as the working directory; the namespace dies with its parent."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            *_system_binds()]
    for prefix in dict.fromkeys((str(Path(python).parents[1]), str(Path(os.path.realpath(python)).parents[1]))):
        if not prefix.startswith("/usr"):  # the sandbox venv, and a base interpreter installed elsewhere (pyenv)
            args += ["--ro-bind", prefix, prefix]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp",
             "--chdir", "/tmp", "--clearenv"]
    return tuple(args)


def setenv(env: dict[str, str]) -> list[str]:
    """bubblewrap arguments that set `env` inside the sandbox."""
    return [x for key, value in env.items() for x in ("--setenv", key, value)]
