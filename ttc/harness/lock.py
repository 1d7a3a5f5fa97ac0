"""One writer per run directory: an exclusive `fcntl` lock on a file inside it, held while a run writes.

The kernel releases the lock when the holding process exits, however it exits (a `kill -9` included), so a
killed run never leaves a stale lock; the file itself stays and only records the last holder (pid, host,
start time), which a refused second writer names. Two launches of one run (a double submit, a SLURM requeue
while the first job still lives) can therefore never both append to one `samples.jsonl`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from ttc.contracts.errors import ConfigError

LOCK = ".ttc.lock"


class RunLock:
    """`with RunLock(run_dir):` holds the directory's lock, or raises a ConfigError naming the holder."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"run directory {self.path.parent} is being written by {holder}; wait for it to "
                              f"finish (then rerun to resume) or pass hydra.run.dir=NEW_DIR") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode())
        self.fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
