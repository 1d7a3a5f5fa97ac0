"""EvalPlus 0.3.1's check of one HumanEval+ / MBPP+ candidate, as a program run inside the sandbox.

ttc never imports this module: ttc/tasks/code_task.py sends its text as the program, with the problem (`_TTC_TASK`)
and one call, `_ttc_plus_check(_TTC_TASK, CODE)`, appended. It runs in the sandbox's environment
(ttc/sandbox/requirements.txt), without ttc's guard (EvalPlus applies its own), and does for one sample what
`evalplus.evaluate` does, with EvalPlus's own code wherever EvalPlus has it:
- inputs: the row's `base_input` and `plus_input` as given; for MBPP+ through EvalPlus's `mbpp_deserialize_inputs`
  (its source is read from the installed evalplus: `evalplus.data` imports `datasets`, which the sandbox lacks);
- expected outputs and the reference's time per input: `evalplus.gen.util.trusted_exec` on the canonical
  solution, run before the candidate's code exists in the process;
- the check: `evalplus.eval.unsafe_execute` (its oracles, float tolerance, reliability guard) in a forked child per
  phase, base then plus, each input limited to max(1 s, 4x the reference's time) and the phase to min(60 s, the sum)
  + 2 s, stopping at the first failure (`evaluate`'s default), a pass being both phases passing;
- two differences, both deliberate: a result holding an object whose class has an `__eq__` the candidate wrote
  fails (EvalPlus compares with that `__eq__`, so an object equal to everything passes there); and HumanEval/32
  (`find_zero`) passes when every root checks, as EvalPlus recorded it after 0.3.1 (in 0.3.1 no answer passes).
The verdict goes to stderr as one `ttc-verdict {json}` line (status, oracle, phase, the first failing input, what
the candidate did with it) and then a one-line reason; a pass returns, a fail exits with status 1.
"""

VERDICT = "ttc-verdict "
_SHOWN = 200  # characters of an input, expectation or result kept in a verdict


def _ttc_plus_check(task, code):
    """Check `code` (the candidate's whole program) on `task` (see CodeTask) and report the verdict."""
    import json
    import sys

    inputs = _inputs(task)
    expected, times = _ground_truth(task, inputs)
    report = {"status": "pass", "oracle": _oracle(task, expected)}
    for phase in ("base", "plus"):
        failure = _phase(task, code, phase, inputs[phase], expected[phase], times[phase])
        if failure is not None:
            report = {**failure, "oracle": report["oracle"]}
            break
    print(VERDICT + json.dumps(report), file=sys.stderr)
    if report["status"] != "pass":
        print(_reason(report), file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(1)


def _inputs(task):
    """The phases' inputs, as EvalPlus loads them."""
    import json

    phases = {phase: json.loads(task[phase]) for phase in ("base", "plus")}
    if task["dataset"] == "mbpp":
        deserialize = _evalplus_function("data/mbpp.py", "mbpp_deserialize_inputs")
        phases = {phase: deserialize(task["task_id"], values) for phase, values in phases.items()}
    return phases


def _evalplus_function(relative, name):
    """A top-level function of an installed evalplus module, compiled from its own source alone."""
    import ast
    import importlib.util
    import os

    path = os.path.join(importlib.util.find_spec("evalplus").submodule_search_locations[0], relative)
    with open(path) as fh:
        tree = ast.parse(fh.read(), path)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {}
    exec(compile(ast.Module([node], []), path, "exec"), namespace)
    return namespace[name]


def _ground_truth(task, inputs):
    """Expected outputs and the reference's seconds per input, per phase (evalplus.evaluate.get_groundtruth)."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec

    not_none = task["dataset"] == "mbpp" and task["entry"] in MBPP_OUTPUT_NOT_NONE_TASKS
    expected, times = {}, {}
    for phase, values in inputs.items():
        expected[phase], times[phase] = trusted_exec(task["reference"], values, task["entry"], record_time=True,
                                                     output_not_none=not_none)
    return expected, times


def _phase(task, code, phase, inputs, expected, ref_time):
    """None when the candidate passes the phase, else its failure (evalplus.eval.untrusted_check, in a fork)."""
    import sys

    from evalplus.config import DEFAULT_GT_TIME_LIMIT_FACTOR, DEFAULT_MIN_TIME_LIMIT
    from evalplus.eval import unsafe_execute

    limits = [max(DEFAULT_MIN_TIME_LIMIT, DEFAULT_GT_TIME_LIMIT_FACTOR * t) for t in ref_time]
    deadline = min(60, sum(limits)) + 2  # untrusted_check: timeout + 1, joined for timeout + 1
    guarded = code + f"\nimport _ttc_result_guard\n_ttc_result_guard.wrap(globals(), {task['entry']!r})\n"

    def child(write):
        sys.modules["_ttc_result_guard"].ran = lambda: write(b"E")
        unsafe_execute(task["dataset"], task["entry"], guarded, inputs, expected, limits, task["atol"], True,
                       _Shared(write, {0: b"S", 1: b"X"}), _Shared(write), _Shared(write))

    _install_result_guard()
    events = _forked(child, deadline)
    ran = next((at for mark, at in events if mark == ord("E")), None)  # the program's own code ran to its end
    marks = [(mark, at) for mark, at in events if mark in b"TF"]
    first = next((i for i, (mark, _) in enumerate(marks) if mark == ord("F")), None)
    # find_zero: 0.3.1 records nothing for an input that passes (`continue` before `details[i] = True`), so every
    # HumanEval/32 answer fails there; a success with no failure is a pass, as upstream's fix (26d6d00) records it
    unrecorded = task["dataset"] == "humaneval" and task["entry"] == "find_zero"
    if events and events[-1][0] == ord("S") and first is None and (len(marks) == len(inputs) or unrecorded):
        return None
    failure = {"status": "fail", "phase": phase, "inputs": len(inputs), "index": None}
    if ran is None and events.killed:
        return {**failure, "status": "timeout", "cause": f"its own code still ran when the phase's {deadline:.3g} s ran out"}
    if ran is None or not marks and events[-1][0] == ord("X"):  # failed to load, or has no entry point
        return {**failure, "cause": _probe(task, guarded, None, limits[0])}
    index = first if first is not None else len(marks)
    if index >= len(inputs):
        return {**failure, "cause": "the check ended without a verdict"}
    failure.update(index=index, input=_shown(inputs[index]), expected=_shown(expected[index]),
                   limit_s=round(limits[index], 3))
    took = (marks[index][1] if index < len(marks) else None, marks[index - 1][1] if index else ran)
    if first is None and events.killed:
        return {**failure, "status": "timeout", "cause": f"still ran when the phase's {deadline:.3g} s ran out"}
    if first is None:
        return {**failure, "cause": "the check ended without a verdict (the program exited or was killed)"}
    if took[0] - took[1] >= 0.95 * limits[index]:
        return {**failure, "status": "timeout", "cause": f"took over {limits[index]:.3g} s (the input's limit)"}
    return {**failure, "cause": _probe(task, guarded, inputs[index], limits[index])}


class _Shared:
    """A stand-in for untrusted_check's shared memory, written to the parent's pipe: as a `Value`, an assignment
    with a mark (`marks`: value -> byte); as the `Array` of per-input results, each result (T or F)."""

    def __init__(self, write, marks=None):
        self.__dict__.update(_write=write, _marks=marks or {}, value=3)

    def __setattr__(self, name, new):
        self.__dict__[name] = new
        if name == "value" and new in self._marks:
            self._write(self._marks[new])

    def __setitem__(self, index, passed):
        self._write(b"T" if passed else b"F")


class _Events(list):
    """(mark byte, seconds since the fork) for every byte the child wrote; `killed` when its time ran out."""

    killed = False


def _forked(body, deadline):
    """Run body(write) in a forked child, collecting what it writes until it ends or `deadline` seconds pass."""
    import os
    import select
    import signal
    import time

    read, write = os.pipe()
    events, start = _Events(), time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            body(lambda data: os.write(write, data))
        finally:
            os._exit(0)
    os.close(write)
    while True:
        left = start + deadline - time.monotonic()
        if left <= 0 or not select.select([read], [], [], left)[0]:
            os.kill(pid, signal.SIGKILL)
            events.killed = True
            break
        data = os.read(read, 4096)
        if not data:
            break
        now = time.monotonic() - start
        events.extend((byte, now) for byte in data)
    os.close(read)
    os.waitpid(pid, 0)
    return events


def _probe(task, code, inp, limit):
    """What the candidate does with one input (or, with None, what loading it does), for the verdict only: run
    again in a fork, within the input's limit plus a second."""
    import json

    def body(write):
        from evalplus.eval.utils import swallow_io, time_limit

        try:
            with time_limit(limit + 1.0), swallow_io():
                scope = {}
                exec(code, scope)
                if task["entry"] not in scope:
                    said = f"defines no function {task['entry']}"
                elif inp is None:
                    said = "ran"
                else:
                    said = "returned " + _shown(scope[task["entry"]](*inp))
        except BaseException as err:  # noqa: BLE001 - any failure of the candidate is what is being reported
            said = f"raised {type(err).__name__}: {str(err)[:_SHOWN]}"
        write(json.dumps(said).encode())

    events = _forked(body, limit + 2.0)
    try:
        return json.loads(bytes(byte for byte, _ in events).decode())
    except ValueError:
        return "ended without saying (it may exit or kill itself)"


def _install_result_guard():
    """The `_ttc_result_guard` module the candidate's program imports at its end (see the module docstring)."""
    import sys
    import types

    module = types.ModuleType("_ttc_result_guard")
    module.wrap, module.ran = _wrap, lambda: None
    sys.modules.setdefault("_ttc_result_guard", module)  # once: a second call keeps the first


def _wrap(scope, entry):
    """Put a checker in front of the candidate's entry point; recursive calls inside reach the function itself.
    Called as the program's last line, it also tells the parent that the program's own code ran."""
    import sys

    sys.modules["_ttc_result_guard"].ran()
    fn = scope.get(entry)
    if not callable(fn):
        return

    def call(*args, **kwargs):
        scope[entry] = fn
        try:
            out = fn(*args, **kwargs)
        finally:
            scope[entry] = call
        faked = _own_equality(out)
        if faked:
            raise AssertionError(f"the result holds a {faked} whose __eq__ the program defines")
        return out

    scope[entry] = call


def _own_equality(value, budget=100_000):
    """The name of a class in `value` (searched through containers) whose `__eq__` was written by the program
    (compiled from exec'd source, as `unsafe_execute` compiles the candidate), else None."""
    stack, seen = [value], 0
    while stack and seen < budget:
        item = stack.pop()
        seen += 1
        code = getattr(getattr(type(item), "__eq__", None), "__code__", None)
        if code is not None and code.co_filename == "<string>":
            return type(item).__name__
        if isinstance(item, dict):
            stack.extend([*item.keys(), *item.values()])
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return None


def _oracle(task, expected):
    """How EvalPlus's unsafe_execute compares this task's results, in words (for the verdict; it decides alone)."""
    from evalplus.eval import is_floats
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS, MBPP_OUTPUT_SET_EQ_TASKS

    entry, atol = task["entry"], task["atol"]
    special = {"are_equivalent": "any result (Mbpp/164 special oracle)", "sum_div": "== or 0 (Mbpp/295)",
               "surface_Area": "== or within atol of _surface_Area (Mbpp/581)",
               "digit_distance_nums": "== or _digit_distance_nums (Mbpp/558)"}
    if task["dataset"] == "mbpp" and entry in special:
        return special[entry]
    if task["dataset"] == "mbpp" and entry in MBPP_OUTPUT_SET_EQ_TASKS:
        return "set equality"
    if task["dataset"] == "mbpp" and entry in MBPP_OUTPUT_NOT_NONE_TASKS:
        return "result is not None (or the same bool)"
    if task["dataset"] == "humaneval" and entry == "find_zero":
        return f"|poly(xs, result)| <= {atol}"
    floats = any(is_floats(x) for phase in expected.values() for x in phase)
    if atol or floats:
        return f"==, else same type and allclose(rtol 1e-07, atol {atol or 1e-6})"
    return "=="


def _shown(value):
    """repr, cut to _SHOWN characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _reason(report):
    """The one-line reason a failed check gives."""
    where = f"{report['phase']} input {report['index'] + 1} of {report['inputs']}" if report.get("index") is not None \
        else f"{report.get('phase', '')} tests"
    said = report.get("cause", "")
    expected = f", expected {report['expected']}" if report.get("expected") and said.startswith("returned") else ""
    return f"{where}: {said}{expected} (oracle: {report['oracle']})"
