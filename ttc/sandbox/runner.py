"""What runs inside the child: the guard prepended to every program and the runner that reports a pass.

The runner reads its secret and the program from stdin and writes the secret to the result pipe only after the
program ran to its end (ttc.sandbox.process.run_program starts it and reads the verdict).
"""

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
for _name in ("kill", "killpg", "fork", "forkpty", "system", "setuid", "setgid", "chroot",
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


# The child's whole program: it reads "SECRET FD [noguard]" and then the program from its stdin, so neither the program
# (hidden tests included) nor the secret is ever on disk, on the command line or in the environment. Only
# after the program has run to its end does it write the secret to the result pipe, and it then leaves at
# once (exit hooks the program installed never run). An early exit, a crash or a hook trick writes nothing.
RUNNER = r'''
import os as _os, sys as _sys
def _ttc_main():
    _head = _sys.stdin.buffer.readline().split()
    _secret, _fd, _guard = _head[0], int(_head[1]), _head[2:] != [b"noguard"]
    _source = _sys.stdin.buffer.read().decode()
    _sys.stdin.close()
    _glb = {"__name__": "__main__", "__builtins__": __builtins__}
    if _guard:
        exec(compile(GUARD, "<guard>", "exec"), _glb)
    exec(compile(_source, "<program>", "exec"), _glb)
    _sys.stdout.flush()
    _sys.stderr.flush()
    _os.write(_fd, _secret + b" done\n")
    _os._exit(0)
_ttc_main()
'''
MARK = "ttc-sandbox-program"  # the child's argv[1], so a test can look for leftover processes
