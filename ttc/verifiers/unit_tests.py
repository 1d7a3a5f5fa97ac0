"""Unit-test verifier: runs a candidate program against the public tests written in its prompt.

Public tests are what the prompt itself shows: doctest examples (`>>> f(x)` followed by the expected
value, as in HumanEval docstrings) and `assert` lines (as in MBPP prompts). The hidden tests the grader
uses live only in the task's references and never reach this verifier. Score = share of public tests
passed (each test runs on its own, so one failure does not hide the others); with no public test in the
prompt, 1.0 when the program at least runs. Programs run in the sandbox, in parallel.
"""

from __future__ import annotations

import ast
import re
from typing import Sequence

from ttc.contracts.records import Verdict
from ttc.contracts.errors import ConfigError
from ttc.sandbox.programs import extract_code, program
from ttc.sandbox.process import Limits, SandboxUnavailable, require_isolation, run_many

_DOCTEST = re.compile(r"^\s*>>> (.+)\n\s*([^\s>].*)$", re.M)
_ASSERT = re.compile(r"^\s*(assert .+)$", re.M)
_DEF = re.compile(r"^def (\w+)\(", re.M)


def public_tests(prompt: str) -> list[str]:
    """Assertions built from the prompt's doctest examples and assert lines."""
    tests = [f"assert ({call}) == ({want})" for call, want in _DOCTEST.findall(prompt)]
    return tests + _ASSERT.findall(prompt)


def _entry_point(prompt: str, tests: list[str]) -> str:
    names = _DEF.findall(prompt)
    if names:
        return names[-1]
    m = re.search(r"assert\W*(?:set\()?\s*(\w+)\(", " ".join(tests))
    return m.group(1) if m else "solution"


_RUNNER = '''
_passed = 0
for _src in _TESTS:
    try:
        exec(_src, dict(globals()))
        _passed += 1
    except BaseException:
        pass
print(f"PUBLIC {_passed}/{len(_TESTS)}")
'''


class UnitTestVerifier:
    """Share of the prompt's public tests a candidate program passes, run in the sandbox."""

    name = "public-tests"

    def __init__(self, timeout_s: float = 10.0, workers: int | None = None, allow_unsafe_code: bool = False) -> None:
        self.limits = Limits(wall_s=timeout_s, cpu_s=int(timeout_s), allow_unsafe_code=allow_unsafe_code)
        self.workers = workers
        try:
            require_isolation(self.limits, "verifier.allow_unsafe_code")
        except SandboxUnavailable as err:
            raise ConfigError(str(err)) from None

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """Verifier.verify (ttc.contracts.protocols): a verdict per solution, from prompt and text only."""
        return self._run(prompts, solutions, lambda prompt, tests, entry: f"_TESTS = {tests!r}\n{_RUNNER}",
                         lambda o: Verdict(score=_score(o.stdout), tokens=0, flops=0.0))

    def behaviours(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[str]]:
        """Behaviours (ttc.contracts.protocols): each program's outputs on inputs generated from the prompt's own
        examples (generated_inputs), as one hash; a program that cannot run at all gets "crash"."""
        return self._run(prompts, solutions,
                         lambda prompt, tests, entry: f"_CALLS = {generated_inputs(prompt, entry)!r}\n{_BEHAVIOUR}",
                         lambda o: _signature(o.stdout))

    def _run(self, prompts, solutions, harness, read) -> list[list]:
        """Every solution's program followed by `harness(prompt, tests, entry)`, run in parallel sandboxes; each
        outcome read by `read`, grouped back per prompt."""
        sources, shape = [], []
        for prompt, sols in zip(prompts, solutions):
            tests = public_tests(prompt)
            entry = _entry_point(prompt, tests)
            tail = harness(prompt, tests, entry)
            sources.extend(f"{program(prompt, extract_code(text), entry)}\n{tail}" for text in sols)
            shape.append(len(sols))
        outcomes = run_many(sources, self.limits, self.workers)
        out, i = [], 0
        for n in shape:
            out.append([read(o) for o in outcomes[i:i + n]])
            i += n
        return out


_BEHAVIOUR = '''
import hashlib as _h
_seen = []
for _call in _CALLS:
    try:
        _seen.append(repr(eval(_call, dict(globals())))[:500])
    except BaseException as _e:
        _seen.append("!" + type(_e).__name__)
print("BEHAVIOUR " + _h.sha1("\\x00".join(_seen).encode()).hexdigest()[:16])
'''


def generated_inputs(prompt: str, entry: str, limit: int = 12) -> list[str]:
    """Calls of `entry` on new inputs: the prompt's example calls with each literal argument perturbed (numbers
    +-1 and doubled, strings and lists reversed, shortened and extended), so programs that agree on the public
    examples can still disagree here. Deterministic; at most `limit` calls."""
    out: list[str] = []
    for call, _ in _DOCTEST.findall(prompt):
        try:
            node = ast.parse(call.strip(), mode="eval").body
            args = [ast.literal_eval(a) for a in node.args] if isinstance(node, ast.Call) else None
        except (SyntaxError, ValueError):
            continue
        if args is None or not (isinstance(node.func, ast.Name) and node.func.id == entry):
            continue
        for j, value in enumerate(args):
            for new in _variants(value):
                text = f"{entry}({', '.join(repr(v) for v in args[:j] + [new] + args[j + 1:])})"
                if text not in out:
                    out.append(text)
    return out[:limit]


def _variants(value) -> list:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, value * 2]
    if isinstance(value, float):
        return [value * 1.5, -value]
    if isinstance(value, (str, list, tuple)):
        return [value[::-1], value[:-1], value + value[:1]]
    return []


def _signature(stdout: str) -> str:
    m = re.search(r"BEHAVIOUR (\w+)", stdout)
    return m.group(1) if m else "crash"


def _score(stdout: str) -> float:
    m = re.search(r"PUBLIC (\d+)/(\d+)", stdout)
    if not m:
        return 0.0
    passed, total = int(m.group(1)), int(m.group(2))
    return passed / total if total else 1.0
