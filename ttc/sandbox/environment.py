"""The sandbox's Python environment: a declared, reproducible venv that model-written programs run in.

`ttc/sandbox/requirements.txt` pins what a program may import beside the standard library (numpy, EvalPlus's oracle
code and its two imports). `build()` makes a venv of the base interpreter the sandbox runs (`base_python()`:
world-executable, so a program dropped to its own user id can start it) without the host's site- or
dist-packages, and installs the pins with `--no-deps` through the running pip. It lives in `.sandbox-env` beside
the project (or `TTC_SANDBOX_ENV`), stamped with the hash of the requirements it was built from, so an edit to
the pins is a rebuild, never a silent mix. `make` builds it (`python -m ttc.sandbox.environment`); code tasks
refuse to start without it, in one line naming that command. `describe()` is its entry in a run's provenance.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ttc.sandbox.isolation import SandboxUnavailable

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
ROOT = HERE.parents[1]  # the project: the environment sits beside its checkout's other build outputs (.venv)
VARIABLE = "TTC_SANDBOX_ENV"
BUILD_COMMAND = "make sandbox-env"


class EnvironmentMissing(SandboxUnavailable):
    """The sandbox's environment is absent or was built from other pins; the message says how to build it."""


@dataclass(frozen=True)
class SandboxEnv:
    """A built environment: its folder, its python, the pins and their hash."""

    path: Path
    pins: tuple[str, ...]
    digest: str

    @property
    def python(self) -> Path:
        """The venv's interpreter (a link to the base interpreter; the venv's site-packages only)."""
        return self.path / "bin" / "python"


def pins() -> tuple[str, ...]:
    """The requirement lines of ttc/sandbox/requirements.txt (comments and blanks dropped)."""
    lines = (x.split("#", 1)[0].strip() for x in REQUIREMENTS.read_text().splitlines())
    return tuple(x for x in lines if x)


def digest() -> str:
    """A short hash of the pins, written into the environment when it is built."""
    return hashlib.sha256("\n".join(pins()).encode()).hexdigest()[:16]


def location() -> Path:
    """Where the environment lives: TTC_SANDBOX_ENV, else .sandbox-env in the project."""
    return Path(os.environ.get(VARIABLE) or ROOT / ".sandbox-env").expanduser().resolve()


def _world_executable(path: str) -> bool:
    """Whether every directory on the way to `path` and the file itself are executable by others."""
    real = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [*reversed(real.parents), real])


@lru_cache(maxsize=1)
def base_python() -> tuple[str, bool]:
    """(the base interpreter programs run on, whether a program drops to a user id of its own): as root, one
    that other users can execute (a pyenv under /root is not), else our own base interpreter."""
    own = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if os.geteuid() != 0:
        return own, False
    for candidate in (own, "/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and _world_executable(candidate):
            return os.path.realpath(candidate), True
    return own, False


def _stamp(path: Path) -> Path:
    return path / "ttc-requirements.sha256"


def current() -> SandboxEnv:
    """The built environment, or EnvironmentMissing (one line: what is wrong and the command that fixes it)."""
    path = location()
    stamp = _stamp(path)
    if not stamp.is_file():
        raise EnvironmentMissing(f"the sandbox's Python environment {path} is not built: run `{BUILD_COMMAND}` "
                                 f"(or python -m ttc.sandbox.environment)")
    if stamp.read_text().strip() != digest():
        raise EnvironmentMissing(f"the sandbox's Python environment {path} was built from other pins than "
                                 f"ttc/sandbox/requirements.txt: run `{BUILD_COMMAND}` to rebuild it")
    return SandboxEnv(path, pins(), digest())


def build(path: Path | None = None) -> SandboxEnv:
    """Make the environment from the pins (a fresh venv each time; the stamp is written last)."""
    path = path or location()
    python, _ = base_python()
    if path.exists():
        shutil.rmtree(path)
    subprocess.run([python, "-m", "venv", "--without-pip", str(path)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install", "-q",
                    "--no-deps", "--disable-pip-version-check", *pins()], check=True)
    for root, dirs, files in os.walk(path):  # readable by the user ids programs run as
        for name in [*dirs, *files]:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, os.stat(full).st_mode | stat.S_IROTH | (stat.S_IXOTH if name in dirs else 0))
    _stamp(path).write_text(digest() + "\n")
    return SandboxEnv(path, pins(), digest())


def describe() -> dict:
    """The environment for a run's provenance: interpreter, version, pins and their hash (or why it is absent)."""
    try:
        env = current()
    except EnvironmentMissing as err:
        return {"missing": str(err)}
    version = subprocess.run([str(env.python), "-I", "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    return {"path": str(env.path), "base": base_python()[0], "python": version, "pins": list(env.pins),
            "digest": env.digest}


if __name__ == "__main__":
    built = build()
    print(f"sandbox environment: {built.path} ({', '.join(built.pins)})")
