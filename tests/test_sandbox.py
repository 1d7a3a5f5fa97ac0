"""Hostile programs against the sandbox's bubblewrap namespaces: each one fails and leaves nothing behind.

Every program below uses the raw `posix` module or ctypes, so the patched builtins of the guard are no
obstacle: what stops them is the operating system (PID, network, mount, IPC and user namespaces, a read-only
system, a private /tmp, rlimits). Skipped with a note where bubblewrap cannot run (see README).
"""

import os
import socket
import threading
import time

import pytest

from ttc.contracts.errors import ConfigError
from ttc.sandbox import process
from ttc.sandbox.process import Isolation, Limits, SandboxUnavailable, isolation, run_many, run_program
from ttc.tasks.code_task import CodeTask

FAST = Limits(wall_s=5.0, cpu_s=5, memory_mb=512)
needs_bwrap = pytest.mark.skipif(isolation().argv is None, reason=f"no isolation here: {isolation().why}")


def _hostile(outside: str, port: int, token: str) -> dict[str, str]:
    """Programs, each trying one escape; `outside` is a host directory, `port` a host server on loopback."""
    return {
        "daemon (double fork, new session)":
            f"import posix, time\nif posix.fork() == 0:\n    posix.setsid()\n    if posix.fork() == 0:\n"
            f"        time.sleep(20)\n        open({outside!r} + '/daemon', 'w').write('x')\n"
            f"        posix._exit(0)\n    posix._exit(0)\nassert False\n",
        "posix_spawn daemon": f"import posix\nposix.posix_spawn('/bin/sleep', ['sleep', '{token}'], {{}}, setsid=True)\n"
                              "assert False\n",
        "writes outside (io.open)": f"import io\nio.open({outside!r} + '/io', 'w').write('x')\n",
        "writes outside (os.open)": f"import posix\nposix.open({outside!r} + '/os', posix.O_CREAT | posix.O_WRONLY)\n",
        "writes the system": "import posix\nposix.open('/usr/ttc-escape', posix.O_CREAT | posix.O_WRONLY)\n",
        "deletes outside": f"import posix\nposix.unlink({outside!r} + '/sentinel')\n",
        "network to the host's loopback": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
        "reads other processes' environments":
            "import posix\nfound = []\nfor pid in posix.listdir('/proc'):\n    try:\n"
            "        found.append(open('/proc/' + pid + '/environ', 'rb').read())\n    except Exception:\n"
            "        pass\nassert any(b'hunter2' in e for e in found)\n",
        "reads the project's files": f"open({os.path.abspath(__file__)!r}).read()\n",
        "fork bomb": "import posix\nwhile True:\n    try:\n        posix.fork()\n    except OSError:\n        pass\n",
        "memory hog": "x = bytearray(8 * 1024 ** 3)\n",
        "kills its parent": "import ctypes, posix\nctypes.CDLL(None).kill(posix.getppid(), 9)\nassert False\n",
        "fakes a pass (os._exit(0))": "import posix\nposix._exit(0)\nassert False\n",
        "fakes a pass (exit hook)": "import atexit, posix\natexit.register(lambda: posix._exit(0))\nassert 1 == 2\n",
    }


class _Server:
    """A TCP server on the host's 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port, self.accepted, self.stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                self.sock.accept()[0].close()
                self.accepted += 1
            except OSError:
                pass

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


def _processes_with(token: str) -> int:
    return int(os.popen(f"ps -eo args | grep -c '[{token[0]}]{token[1:]}'").read().strip())


@needs_bwrap
def test_hostile_programs_fail_and_leave_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_TEST_SECRET", "hunter2")
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o777)  # writable by anyone, so only the namespaces stand in the way
    (outside / "sentinel").write_text("keep")
    server, token = _Server(), "31.4159"
    try:
        programs = _hostile(str(outside), server.port, token)
        outcomes = run_many(list(programs.values()), FAST, workers=2)
        time.sleep(0.5)
        table = {name: o.reason for name, o in zip(programs, outcomes)}
        print("\n".join(f"{name:40s} {reason}" for name, reason in table.items()))
        assert not [name for name, o in zip(programs, outcomes) if o.passed]
        assert server.accepted == 0
    finally:
        server.close()
    assert sorted(p.name for p in outside.iterdir()) == ["sentinel"]
    assert not os.path.exists("/usr/ttc-escape")
    assert _processes_with(token) == 0 and _processes_with(process.MARK) == 0
    assert table["memory hog"] == "killed: memory"
    assert table["fakes a pass (os._exit(0))"] == "failed: exited before the tests finished"
    assert "No such file" in table["reads the project's files"]
    assert run_program("assert sum(range(10)) == 45\n", FAST).passed  # and the next program runs normally


@needs_bwrap
def test_a_timed_out_program_takes_its_whole_namespace_with_it():
    token = "27.1828"
    spawn = f"import posix\nposix.posix_spawn('/bin/sleep', ['sleep', '{token}'], {{}}, setsid=True)\n"
    outcome = run_program(spawn + "while True:\n    pass\n", Limits(wall_s=1.5, cpu_s=5))
    time.sleep(0.3)
    assert outcome.reason == "timed out" and _processes_with(token) == 0


def test_without_isolation_code_is_refused_unless_allowed(monkeypatch):
    monkeypatch.delenv(process.UNSAFE_ENV, raising=False)
    monkeypatch.setattr(process, "isolation", lambda: Isolation(None, "bubblewrap (bwrap) is not installed"))
    with pytest.raises(SandboxUnavailable, match="allow_unsafe_code=true"):
        run_program("pass\n", FAST)
    with pytest.raises(ConfigError, match=r"^task.allow_unsafe_code=false: .*bwrap.*task.allow_unsafe_code=true"):
        CodeTask("humaneval", path=os.devnull)
    assert run_program("pass\n", Limits(wall_s=5, allow_unsafe_code=True)).passed
    monkeypatch.setenv(process.UNSAFE_ENV, "1")
    assert run_program("pass\n", FAST).passed
