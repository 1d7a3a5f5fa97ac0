"""Run untrusted Python programs (model-written code plus tests) in a fresh, limited subprocess each.

What it does, per program:
- a fresh `python -I` subprocess (isolated mode: no user site, no PYTHON* variables, no cwd on sys.path)
  in a new temporary working directory that is deleted afterwards;
- a scrubbed environment: only PATH, HOME (the temporary directory), LANG and PYTHONHASHSEED, so
  secrets in the parent's environment are not visible;
- resource limits set before exec: CPU seconds, address space (memory), size of any file written,
  number of open files, and number of processes. When the run is root and an interpreter is reachable
  by other users (`interpreter()`), the child first drops to the `nobody` user, so the process limit
  holds and only the temporary directory is writable; otherwise it keeps the caller's user;
- a session of its own and a hard wall-clock timeout that kills the whole process group;
- a guard prepended to the program that disables the usual destructive calls (os.kill/killpg of other
  processes, os.fork, os.system, subprocess, shutil.rmtree, os.remove outside the directory, ...),
  in the spirit of HumanEval's `reliability_guard`.
Programs run in parallel on a thread pool of `workers` (each thread waits on its own subprocess).

What it does NOT protect against: it is not a security boundary. There is no network isolation (a
program can open sockets), no filesystem namespace (as `nobody` it can still read world-readable files,
and without root it runs as the calling user and can write wherever that user can), no syscall
filtering (ctypes can undo the guard), and a program that starts a new session escapes the group kill
(the process limit and CPU limit still bound it). Run untrusted code from the internet in a container
or VM; this module keeps honest benchmark runs safe from buggy or runaway programs.
"""

from __future__ import annotations

import os
import resource
import secrets
import stat
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

NOBODY = 65534


def _world_executable(path: str) -> bool:
    """Whether every directory on the way to `path` and the file itself are executable by others."""
    real = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [*reversed(real.parents), real])


@lru_cache(maxsize=1)
def interpreter() -> tuple[str, bool]:
    """(python to run programs with, whether the child drops to `nobody`)."""
    if os.geteuid() != 0:
        return sys.executable, False
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and _world_executable(candidate):
            return candidate, True
    return sys.executable, False


@dataclass(frozen=True)
class Limits:
    """Per-program limits. `wall_s` is a hard timeout; the others are rlimits of the child."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 64
    open_files: int = 64


@dataclass(frozen=True)
class Outcome:
    """How a program ended: status is "passed", "failed" or "timeout", and the reason in words."""

    status: str
    returncode: int | None
    wall_s: float
    stderr: str
    stdout: str = ""
    reason: str = ""  # "passed", "timed out", "killed: memory", "failed: exited before the tests finished", ...

    @property
    def passed(self) -> bool:
        """Whether the runner reported (with the run's secret) that the program ran to its end, in time."""
        return self.status == "passed"


GUARD = r'''
import builtins as _b, os as _os, shutil as _sh, subprocess as _sp, sys as _sys
_HERE = _os.getcwd()
def _refuse(*a, **k):
    raise PermissionError("disabled in the ttc sandbox")
def _inside(path):
    try:
        return _os.path.realpath(path).startswith(_HERE + _os.sep)
    except Exception:
        return False
def _guarded(fn):
    def inner(path, *a, **k):
        if not _inside(path if isinstance(path, (str, bytes, _os.PathLike)) else _HERE + "/x"):
            raise PermissionError("only the sandbox directory may be changed")
        return fn(path, *a, **k)
    return inner
for _name in ("kill", "killpg", "fork", "forkpty", "system", "putenv", "setuid", "setgid", "chroot",
              "execv", "execve", "execvp", "execvpe", "spawnv", "spawnve", "popen", "nice", "setsid"):
    if hasattr(_os, _name):
        setattr(_os, _name, _refuse)
for _name in ("remove", "unlink", "rmdir", "rename", "replace", "chmod", "chown", "truncate"):
    if hasattr(_os, _name):
        setattr(_os, _name, _guarded(getattr(_os, _name)))
_sh.rmtree = _sh.move = _sh.chown = _refuse
_sp.Popen = _sp.run = _sp.call = _sp.check_call = _sp.check_output = _refuse
_open = _b.open
def _open_guarded(file, mode="r", *a, **k):
    if any(c in mode for c in "wax+") and not _inside(file if not isinstance(file, int) else _HERE + "/x"):
        raise PermissionError("only the sandbox directory may be written")
    return _open(file, mode, *a, **k)
_b.open = _open_guarded
del _name
'''


def _limit(limits: Limits, drop: bool):
    """The child's preexec: new session, rlimits, and (as root, when possible) drop to nobody."""

    def apply() -> None:
        os.setsid()
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply


# The child's whole program: it reads "SECRET FD" and then the program from its stdin, so neither the program
# (hidden tests included) nor the secret is ever on disk, on the command line or in the environment. Only
# after the program has run to its end does it write the secret to the result pipe, and it then leaves at
# once (exit hooks the program installed never run). An early exit, a crash or a hook trick writes nothing.
RUNNER = r'''
import os as _os, sys as _sys
def _ttc_main():
    _head = _sys.stdin.buffer.readline().split()
    _secret, _fd = _head[0], int(_head[1])
    _source = _sys.stdin.buffer.read().decode()
    _sys.stdin.close()
    _glb = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(GUARD, "<guard>", "exec"), _glb)
    exec(compile(_source, "<program>", "exec"), _glb)
    _sys.stdout.flush()
    _sys.stderr.flush()
    _os.write(_fd, _secret + b" done\n")
    _os._exit(0)
_ttc_main()
'''
MARK = "ttc-sandbox-program"  # the child's argv[1], so a test can look for leftover processes


def run_program(source: str, limits: Limits = Limits()) -> Outcome:
    """Run one program to completion (or to its wall-clock limit) and report how it ended; it passes only
    when the runner reports, through the result pipe and with this run's secret, that the program ran to
    its end."""
    python, drop = interpreter()
    workdir = tempfile.mkdtemp(prefix="ttc-sandbox-")
    secret = secrets.token_hex(16).encode()
    read_end, write_end = os.pipe()
    try:
        if drop:
            os.chown(workdir, NOBODY, NOBODY)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        code = f"GUARD = {GUARD!r}\n{RUNNER}"
        head = secret + b" " + str(write_end).encode() + b"\n"
        t0 = time.monotonic()
        # Output goes to files in the directory (bounded by the file-size limit), never into our memory.
        with open(os.path.join(workdir, ".out"), "wb") as out, open(os.path.join(workdir, ".err"), "wb") as err:
            proc = subprocess.Popen([python, "-I", "-c", code, MARK], cwd=workdir, env=env, stdin=subprocess.PIPE,
                                    stdout=out, stderr=err, pass_fds=(write_end,), preexec_fn=_limit(limits, drop))
            os.close(write_end)
            timed_out = _feed_and_wait(proc, head + source.encode(), limits.wall_s)
        _kill_group(proc.pid)  # anything it left behind in its session
        finished = _drain(read_end) == secret + b" done\n"
        return _outcome(proc.returncode, timed_out, finished, time.monotonic() - t0, workdir)
    finally:
        os.close(read_end)
        shutil.rmtree(workdir, ignore_errors=True)


def _feed_and_wait(proc: subprocess.Popen, data: bytes, wall_s: float) -> bool:
    """Give the child its input and wait for it; True when it ran past its wall-clock limit (then killed)."""
    try:
        proc.communicate(data, timeout=wall_s)
        return False
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        return True


def _drain(fd: int, limit: int = 4096) -> bytes:
    """What the child wrote to the result pipe (at most `limit` bytes; its end is closed by now)."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, limit)
    except BlockingIOError:
        return b""


def _outcome(returncode: int | None, timed_out: bool, finished: bool, wall: float, workdir: str) -> Outcome:
    stderr, stdout = _tail(os.path.join(workdir, ".err")), _tail(os.path.join(workdir, ".out"))
    if timed_out:
        status, reason = "timeout", "timed out"
    elif finished and returncode == 0:
        status, reason = "passed", "passed"
    elif returncode is not None and returncode < 0:
        status = "failed"
        reason = "killed: memory" if returncode == -signal.SIGKILL and "MemoryError" in stderr else \
            f"killed: signal {signal.Signals(-returncode).name}"
    elif "MemoryError" in stderr:
        status, reason = "failed", "killed: memory"
    elif returncode == 0:
        status, reason = "failed", "failed: exited before the tests finished"
    else:
        last = [x for x in stderr.strip().splitlines() if x.strip()]
        status, reason = "failed", f"failed: {last[-1][:200] if last else f'exit status {returncode}'}"
    return Outcome(status, returncode, round(wall, 4), stderr, stdout, reason)


def _tail(path: str, size: int = 4000) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, os.path.getsize(path) - size))
        return fh.read().decode(errors="replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_many(sources: Sequence[str], limits: Limits = Limits(), workers: int | None = None) -> list[Outcome]:
    """Run programs in parallel (one subprocess each), results in input order."""
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda s: run_program(s, limits), sources))
