"""Run untrusted Python programs (model-written code plus tests) in a fresh, isolated process each.

Isolation comes from the operating system, through bubblewrap (`bwrap`, Debian's `bubblewrap`, which
`make test` installs):
- own PID, network, mount, IPC, UTS and user namespaces (`--unshare-all`, nested user namespaces disabled):
  no network at all (the host's loopback is unreachable), no other process visible (a fresh /proc), and
  when the wall-clock limit kills bwrap the whole PID namespace dies with it, so double-forked or
  re-sessioned daemons do not survive; a program that ends takes its children with it too;
- a read-only view of /usr and of the sandbox's Python environment (ttc/sandbox/environment.py: a venv of the
  base interpreter with the pins of ttc/sandbox/requirements.txt, no host packages) and nothing else of the host: no /work, /home, /root or /etc, so neither the project, its data (references, canonical
  solutions) nor other users' files can be read; a private, size-bounded tmpfs /tmp as the working
  directory, gone when the program ends;
- the program and its hidden tests reach the child on stdin, never on disk, on the command line or in the
  environment, which is scrubbed (PATH, HOME, LANG, PYTHONHASHSEED, and the memory bound as EvalPlus reads it);
- resource limits set before exec: CPU seconds, address space (memory), size of any file written, number of
  open files, number of processes. As root, each program also runs as a user id of its own
  (`program_uid`), so the process limit is its own and a fork bomb never starves a program beside it;
- a pass is reported only by the runner itself, through a private pipe and with a per-run secret, after
  the program ran to its end (see RUNNER): an early exit, an exit hook, a crash, a timeout or a memory kill
  is a fail with its reason in `Outcome.reason`;
- a guard prepended to the program disables the usual destructive calls, in the spirit of HumanEval's
  `reliability_guard`; it is a courtesy for honest programs, not the boundary (ctypes or `posix` undo it).
  A program that brings its own (EvalPlus's check applies EvalPlus's guard) runs with `Limits(guard=False)`.
Where bubblewrap is missing or cannot create namespaces (some containers forbid user namespaces), code is
refused with one line unless the user passes `allow_unsafe_code=true` (or sets TTC_ALLOW_UNSAFE_CODE=1);
then programs run as a plain limited subprocess as before, which is not a security boundary.
Programs run in parallel on a thread pool of `workers` (each thread waits on its own subprocess).

Still out of reach: code inside the program's own interpreter can read the runner's memory (its frames
hold the secret and the tests while they run), so a program written to attack this harness specifically
could forge a pass; there is no syscall filter (seccomp) and no cgroup memory accounting of tmpfs beyond
its size bound. Benchmarks meet buggy and runaway programs, not targeted attacks on ttc.
"""

from __future__ import annotations

import itertools
import os
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from ttc.sandbox import environment
from ttc.sandbox.isolation import Isolation, SandboxUnavailable, bwrap_argv, setenv
from ttc.sandbox.runner import GUARD, MARK, RUNNER

__all__ = ["GUARD", "MARK", "RUNNER", "Isolation", "Limits", "Outcome", "SandboxUnavailable", "interpreter",
           "isolation", "require_isolation", "run_many", "run_program", "unsafe_allowed"]

NOBODY = 65534
# As root, each program runs as a user id of its own from this range (not `nobody`, shared by all): the
# process limit is per user, so a fork bomb exhausts only its own budget, never that of a program running
# beside it. The ids own no files; they only need to read and execute the interpreter.
UID_BASE, UID_SPAN = 1_900_000_000, 4096
_next_uid = itertools.count()
_uid_lock = threading.Lock()


def program_uid() -> int:
    """A user id for the next program (cycling through UID_SPAN ids; a finished program leaves no process)."""
    with _uid_lock:
        return UID_BASE + (os.getpid() % 1000) * UID_SPAN + next(_next_uid) % UID_SPAN


def interpreter() -> tuple[str, bool]:
    """(python to run programs with: the sandbox environment's, whether the child drops to a user id of its own).
    EnvironmentMissing (one line naming the build command) where the environment is not built."""
    return str(environment.current().python), environment.base_python()[1]


@dataclass(frozen=True)
class Limits:
    """Per-program limits. `wall_s` is a hard timeout; the others are rlimits of the child."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 64
    open_files: int = 64
    allow_unsafe_code: bool = False  # run without namespaces where bubblewrap cannot (see SandboxUnavailable)
    guard: bool = True  # False: the program brings its own (EvalPlus's reliability_guard), GUARD would break it


ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def _env(limits: Limits, home: str) -> dict[str, str]:
    """The child's whole environment: ENV, its home, and the memory bound told the way EvalPlus reads it."""
    return ENV | {"HOME": home, "EVALPLUS_MAX_MEMORY_BYTES": str(limits.memory_mb * 1024 * 1024)}
UNSAFE_ENV = "TTC_ALLOW_UNSAFE_CODE"  # =1: the same switch as allow_unsafe_code=true (as HF_ALLOW_CODE_EVAL)


def unsafe_allowed(limits: Limits) -> bool:
    """Whether the user allowed code to run without namespaces (config field or environment variable)."""
    return limits.allow_unsafe_code or os.environ.get(UNSAFE_ENV, "") == "1"


def require_isolation(limits: Limits, field: str = "allow_unsafe_code") -> None:
    """Raise SandboxUnavailable (one line naming `field`) when programs would run unisolated, unallowed, or
    EnvironmentMissing (a SandboxUnavailable) when the sandbox's Python environment is not built."""
    interpreter()
    why = isolation().why
    if why and not unsafe_allowed(limits):
        raise SandboxUnavailable(f"{field}=false: this runs model-written programs and {why}; pass {field}=true "
                                 f"(or set {UNSAFE_ENV}=1) to run them without namespaces, at your own risk")


@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Whether bubblewrap can isolate programs here (probed once by running a trivial program in it)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation(None, "bubblewrap (bwrap) is not installed to isolate them (apt-get install bubblewrap; "
                               "make test installs it)")
    python, drop = interpreter()
    argv = [*bwrap_argv(bwrap, python), *setenv(ENV), python, "-I", "-c", "pass"]
    try:
        probe = subprocess.run(argv, env=dict(ENV), capture_output=True, timeout=30, preexec_fn=_limit(Limits(), program_uid() if drop else None))
        failure = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] if probe.returncode else None
    except (OSError, subprocess.TimeoutExpired) as err:
        failure = [str(err)]
    if failure is not None:
        return Isolation(None, f"bubblewrap cannot create namespaces here ({failure[0] if failure else 'no reason'})")
    return Isolation(bwrap_argv(bwrap, python))


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


def _limit(limits: Limits, uid: int | None):
    """The child's preexec: new session, rlimits, and (as root, when possible) drop to `uid`."""

    def apply() -> None:
        os.setsid()
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply


def run_program(source: str, limits: Limits = Limits()) -> Outcome:
    """Run one program to completion (or to its wall-clock limit) and report how it ended; it passes only
    when the runner reports, through the result pipe and with this run's secret, that the program ran to
    its end. Inside bubblewrap namespaces when available; otherwise only with `allow_unsafe_code`."""
    python, drop = interpreter()
    require_isolation(limits)
    wrap = isolation()
    workdir = tempfile.mkdtemp(prefix="ttc-sandbox-")
    secret = secrets.token_hex(16).encode()
    read_end, write_end = os.pipe()
    try:
        uid = program_uid() if drop else None
        if uid is not None:
            os.chown(workdir, uid, NOBODY)
        code = f"GUARD = {GUARD!r}\n{RUNNER}"
        head = secret + b" " + str(write_end).encode() + (b"\n" if limits.guard else b" noguard\n")
        if wrap.argv is not None:  # the program sees a private /tmp as its working directory, nothing of ours
            argv = [*wrap.argv, *setenv(_env(limits, "/tmp")), python, "-I", "-c", code, MARK]
            env = dict(ENV)
        else:
            argv, env = [python, "-I", "-c", code, MARK], _env(limits, workdir)
        t0 = time.monotonic()
        # Output goes to files in the directory (bounded by the file-size limit), never into our memory.
        with open(os.path.join(workdir, ".out"), "wb") as out, open(os.path.join(workdir, ".err"), "wb") as err:
            proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                    pass_fds=(write_end,), preexec_fn=_limit(limits, uid))
            os.close(write_end)
            write_end = -1
            timed_out = _feed_and_wait(proc, head + source.encode(), limits.wall_s)
        _kill_group(proc.pid)  # anything it left behind in its session (inside bwrap the namespace is gone)
        finished = _drain(read_end) == secret + b" done\n"
        returncode = proc.returncode
        if wrap.argv is not None and returncode is not None and returncode > 128:
            returncode = -(returncode - 128)  # bwrap reports a child killed by signal N as 128 + N
        return _outcome(returncode, timed_out, finished, time.monotonic() - t0, workdir)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
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
