"""Code generation tasks: HumanEval, HumanEval+, MBPP+, graded by running hidden tests in the sandbox.

- `humaneval`: the prompt (signature and docstring) is completed; graded by the dataset's `check`.
- mode `chat` (any dataset): the code is quoted in a ```python fence inside an instruction in a model's chat
  template (`chat_tokenizer`); the reply's first fenced block is the candidate, assembled after the quoted code.
- `humaneval_plus` / `mbpp_plus` (EvalPlus): the original tests plus every base and plus input, whose
  expected outputs come from running the canonical solution beside the candidate in the same sandboxed
  program, compared exactly or within the task's `atol` (HumanEval/32's root finder is checked by
  |poly(xs, x)| <= atol, as EvalPlus does, since any root is right).

The hidden test program travels in `Problem.reference`, which strategies and verifiers never receive;
public tests (the docstring's examples) are read from the prompt by `verifiers.unit_tests`. Data comes
from a local file a user passes (`task.path`, JSONL or JSONL.gz) or from the hub by id and revision.

What a candidate cannot fake: a pass is reported by the sandbox's runner only after the last check returned
(an early exit, an exit hook or a crash is a fail with its reason); the program, hidden tests included,
reaches the child through its stdin, never through a file or the environment; and every result the checks
compare is first held to the canonical solution's result type on the same inputs (recursively; int and
float may stand for each other), so an object that claims to equal everything fails the base and + tests.
Still out of reach: a candidate that reads the harness's own memory (frames, gc, the runner's locals) or
that patches the builtins the checks use (`isinstance`, `type`, `copy.deepcopy`) before they run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.records import Problem
from ttc.tasks.chat import chat_renderer
from ttc.tasks.files import read_text
from ttc.sandbox.process import Limits, Outcome, SandboxUnavailable, require_isolation, run_many
from ttc.sandbox.programs import extract_code, program

HUB = {  # name: (hub id, split, pinned revision)
    "humaneval": ("openai/openai_humaneval", "test", "7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544"),
    "humaneval_plus": ("evalplus/humanevalplus", "test", "d32357cf319e50e9c8d8dab5ea876c72b0fd321b"),
    "mbpp_plus": ("evalplus/mbppplus", "test", "b2d74c91837c3f2a20c1299ae98133cbe7cfa077"),
}

_SAME_TYPE = r'''
def _ttc_same_type(got, exp):
    # The canonical solution's result types, recursively (int and float may stand for each other; bool may
    # not): an object that claims to equal everything is not an int, a list or a str.
    if isinstance(exp, bool) or isinstance(got, bool):
        return type(got) is type(exp)
    if isinstance(exp, (int, float)) and isinstance(got, (int, float)):
        return True
    if type(got) is not type(exp):
        return False
    if isinstance(exp, (list, tuple)):
        return len(got) == len(exp) and all(_ttc_same_type(g, e) for g, e in zip(got, exp))
    if isinstance(exp, dict):
        return all(k in got and _ttc_same_type(got[k], v) for k, v in exp.items())
    return True
'''
_TYPED_CHECK = _SAME_TYPE + r'''
import copy as _ttc_copy
_ttc_ns = {}
exec(_REFERENCE, _ttc_ns)
def _ttc_typed(candidate, reference):
    def call(*args, **kwargs):
        got = candidate(*_ttc_copy.deepcopy(args), **_ttc_copy.deepcopy(kwargs))
        try:
            exp = reference(*_ttc_copy.deepcopy(args), **_ttc_copy.deepcopy(kwargs))
        except Exception:
            return got
        assert _ttc_same_type(got, exp), f"returned {type(got).__name__}, the canonical solution {type(exp).__name__}"
        return got
    return call
check(_ttc_typed(globals()[_ENTRY], _ttc_ns[_ENTRY]))
'''

_PLUS_HARNESS = _SAME_TYPE + r'''
import copy as _copy, json as _json, math as _math
def _shape(value, template):
    # JSON has no tuples, sets or complex numbers: give each input the types of the example call's arguments
    if isinstance(value, list) and isinstance(template, (tuple, list, set)):
        items = list(template)
        boxes = [t for t in items if isinstance(t, (tuple, list, set))]
        def pick(i, v):
            t = items[min(i, len(items) - 1)] if items else None
            if isinstance(v, list) and not isinstance(t, (tuple, list, set)):
                return boxes[0] if boxes else template  # deeper than the example: same container again
            return t
        inner = [_shape(v, pick(i, v)) for i, v in enumerate(value)]
        return inner if isinstance(template, list) else (tuple(inner) if isinstance(template, tuple) else set(inner))
    if isinstance(value, str) and isinstance(template, (int, float, complex)) and not isinstance(template, bool):
        try:
            return complex(value)
        except ValueError:
            return value
    return value
def _close(got, exp, atol):
    if not _ttc_same_type(got, exp):
        return False
    if got == exp:
        return True
    if hasattr(got, "span") and hasattr(exp, "span") and hasattr(exp, "group"):  # re.Match
        return got.span() == exp.span() and got.group() == exp.group()
    if isinstance(exp, float) or isinstance(got, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return False
        if _math.isnan(exp) or _math.isnan(got):
            return _math.isnan(exp) and _math.isnan(got)
        return abs(got - exp) <= atol + 1e-7 * abs(exp) if atol else got == exp
    if isinstance(exp, (list, tuple)) and isinstance(got, (list, tuple)) and type(exp) is type(got):
        return len(got) == len(exp) and all(_close(g, e, atol) for g, e in zip(got, exp))
    return got == exp
_ns = {}
exec(_REFERENCE, _ns)
_reference, _candidate = _ns[_ENTRY], globals()[_ENTRY]
for _args in _json.loads(_INPUTS):
    if _TEMPLATES is not None and len(_TEMPLATES) == len(_args):
        _args = [_shape(a, t) for a, t in zip(_args, _TEMPLATES)]
    _got = _candidate(*_copy.deepcopy(_args))
    if _ENTRY == "find_zero":
        assert abs(_ns["poly"](_args[0], _got)) <= _ATOL, (_args, _got)
        continue
    _exp = _reference(*_copy.deepcopy(_args))
    assert _close(_got, _exp, _ATOL), (_args, _got, _exp)
'''


def _templates(tests: str, entry: str) -> list | None:
    """The literal arguments of the first call to `entry` in the original tests (None if not literal)."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == entry:
            try:
                return [ast.literal_eval(arg) for arg in node.args]
            except (ValueError, SyntaxError):
                return None
    return None


class CodeTask:
    """One of HUB's datasets; `limit` keeps the first problems; grading runs `workers` sandboxes at once."""

    grader_version = "sandbox-tests-v2"  # v2: pass reported by the runner; result types checked

    def __init__(self, dataset: str = "humaneval", path: str | None = None, revision: str | None = None,
                 limit: int | None = None, timeout_s: float = 60.0, memory_mb: int = 4096,
                 workers: int | None = None, allow_unsafe_code: bool = False, mode: str = "complete",
                 chat_tokenizer: str | None = None) -> None:
        if dataset not in HUB:
            raise bad_choice("task.dataset", dataset, HUB)
        if mode not in MODES:
            raise bad_choice("task.mode", mode, MODES)
        if not (timeout_s > 0 and memory_mb > 0):
            raise ConfigError(f"task.timeout_s={timeout_s} and task.memory_mb={memory_mb} must both be positive")
        if mode == "chat" and not chat_tokenizer:
            raise ConfigError("task.mode=chat needs task.chat_tokenizer (a tokenizer with a chat template)")
        self._template = chat_renderer(chat_tokenizer, CHAT_INSTRUCTION, "code") if mode == "chat" else None
        self.name, self.dataset, self.limit = dataset, dataset, limit
        revision = revision or HUB[dataset][2]
        self.version = f"{dataset}:{Path(path).name if path else HUB[dataset][0] + '@' + revision}"
        if mode == "chat":
            self.version = f"{dataset}-chat-v1:" + self.version.split(":", 1)[1]
        self.limits = Limits(wall_s=timeout_s, cpu_s=int(timeout_s), memory_mb=memory_mb,
                             allow_unsafe_code=allow_unsafe_code)
        try:  # before any generation: a run that could never be graded is refused at once
            require_isolation(self.limits, "task.allow_unsafe_code")
        except SandboxUnavailable as err:
            raise ConfigError(str(err)) from None
        self.workers = workers
        rows = _read(Path(path).expanduser()) if path else _hub(dataset, revision)
        self._problems = [self._problem(r) for r in rows[:limit]]

    def _problem(self, row: dict) -> Problem:
        entry = row["entry_point"]
        if self.dataset == "humaneval":  # the dataset's check, through a wrapper comparing result types
            reference = row["prompt"] + row["canonical_solution"]
            hidden = f"{row['test']}\n_ENTRY = {entry!r}\n_REFERENCE = {reference!r}\n{_TYPED_CHECK}"
        else:
            original = row["test"] + f"\ncheck({entry})\n" if "test" in row else "import math\n" + row["assertion"]
            reference = (row["prompt"] + row["canonical_solution"] if self.dataset == "humaneval_plus"
                         else row["canonical_solution"])
            inputs = json.dumps([*(row["base_input"] or []), *(row["plus_input"] or [])])  # Mbpp/793 has {}
            hidden = (f"{original}\n_ENTRY = {entry!r}\n_ATOL = {float(row['atol'] or 0)!r}\n"
                      f"_TEMPLATES = {_templates(original, entry)!r}\n"
                      f"_REFERENCE = {reference!r}\n_INPUTS = {inputs!r}\n{_PLUS_HARNESS}")
        canonical = row["canonical_solution"]
        prompt = row["prompt"] if self._template is None else self._template(row["prompt"])
        return Problem(row["task_id"], prompt, hidden, {"entry_point": entry, "canonical": canonical})

    def problems(self) -> list[Problem]:
        """Task.problems (ttc.contracts.protocols): the problems in a fixed order."""
        return list(self._problems)

    def extract(self, text: str) -> str | None:
        """Task.extract (ttc.contracts.protocols): the final answer in a completion's text, or None."""
        code = extract_code(text)
        return code if code.strip() else None

    def grade(self, answer: str | None, problem: Problem) -> bool:
        """Task.grade (ttc.contracts.protocols): whether an extracted answer is right for the problem."""
        return self.grade_many([answer], [problem])[0]

    def grade_many(self, answers: list[str | None], problems: list[Problem]) -> list[bool]:
        """Run every candidate with its hidden tests, in parallel sandboxes."""
        return [o is not None and o.passed for o in self.outcomes(answers, problems)]

    def outcomes(self, answers: list[str | None], problems: list[Problem]) -> list[Outcome | None]:
        """How each candidate's run ended, with its reason (None where there was no code to run)."""
        todo = [(i, program(p.prompt, a, p.metadata["entry_point"]) + "\n" + p.reference)
                for i, (a, p) in enumerate(zip(answers, problems)) if a is not None]
        ran = run_many([src for _, src in todo], self.limits, self.workers)
        out: list[Outcome | None] = [None] * len(answers)
        for (i, _), outcome in zip(todo, ran):
            out[i] = outcome
        return out


MODES = ("complete", "chat")
# the code quoted in a fence; the program is assembled from the fenced code (ttc.sandbox.programs.code_prefix)
CHAT_INSTRUCTION = ("Complete the following Python function. Reply with the whole function, imports included, "
                    "in one ```python code block.\n\n```python\n{code}```")


def _read(path: Path) -> list[dict]:
    rows = []
    text = read_text(path)
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError as err:
                raise ConfigError(f"task.path={path} line {n} is not valid JSON ({err.msg})") from None
    if not rows:
        raise ConfigError(f"task.path={path} is empty: a HumanEval/EvalPlus file has one problem per line")
    missing = [k for k in ("task_id", "prompt", "entry_point", "canonical_solution") if k not in rows[0]]
    if missing:
        raise ConfigError(f"task.path={path} has no field {missing[0]!r}; is it a HumanEval/EvalPlus file?")
    return rows


def _hub(dataset: str, revision: str) -> list[dict]:
    hub_id, split, _ = HUB[dataset]
    try:
        from datasets import load_dataset

        return list(load_dataset(hub_id, split=split, revision=revision))
    except Exception as err:  # offline, unknown revision, no network: say which and how to pass a file
        raise ConfigError(f"task.dataset={dataset}: cannot load {hub_id}@{revision} from the hub "
                          f"({type(err).__name__}); pass a local file with task.path=...") from None
