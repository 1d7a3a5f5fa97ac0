"""Code generation tasks: HumanEval, HumanEval+, MBPP+, graded by running hidden tests in the sandbox.

- `humaneval`: the prompt (signature and docstring) is completed; graded by the dataset's `check`.
- mode `chat` (any dataset): the code is quoted in a ```python fence inside an instruction in a model's chat
  template (`chat_tokenizer`); the reply's first fenced block is the candidate, assembled after the quoted code.
- `humaneval_plus` / `mbpp_plus`: graded exactly as EvalPlus 0.3.1's `evaluate` grades, by EvalPlus's own code
  run in the sandbox (ttc/sandbox/plus_check.py): the base and plus inputs as the dataset gives them, expected outputs
  and time limits from the canonical solution, EvalPlus's oracles (set equality, not-None, float tolerance,
  HumanEval/32's |poly(xs, x)| <= atol, ...). Only the tests EvalPlus runs: never the original `check` or MBPP
  `assertion` lines. A failure names its first failing input and the oracle that decided (`ttc grade`).

The hidden test program travels in `Problem.reference`, which strategies and verifiers never receive;
public tests (the docstring's examples) are read from the prompt by `verifiers.unit_tests`. Data comes
from a local file a user passes (`task.path`, JSONL or JSONL.gz) or from the hub by id and revision.

What a candidate cannot fake: a pass is reported by the sandbox's runner only after the last check returned
(an early exit, an exit hook or a crash is a fail with its reason); the program, hidden tests included,
reaches the child through its stdin, never through a file or the environment. On plain HumanEval every result
`check` compares is first held to the canonical solution's result type (int and float may stand for each other);
on HumanEval+ and MBPP+ a result holding an object whose `__eq__` the candidate wrote fails (EvalPlus, which
compares with that `__eq__`, would pass it: ttc's one deliberate difference). Still out of reach: a candidate that
reads the harness's own memory (frames, gc, the runner's locals) or patches the builtins the checks use.
"""

from __future__ import annotations

import json
from pathlib import Path

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.records import Problem
from ttc.tasks.chat import chat_renderer
from ttc.tasks.files import read_text
from ttc.sandbox.process import Limits, Outcome, SandboxUnavailable, require_isolation, run_many
from ttc.sandbox.plus_check import VERDICT
from ttc.sandbox.programs import extract_code, plus_check_call, plus_check_program, program

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

class CodeTask:
    """One of HUB's datasets; `limit` keeps the first problems; grading runs `workers` sandboxes at once."""


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
        plus = dataset != "humaneval"  # EvalPlus's check brings its own guard (ttc/sandbox/plus_check.py)
        self.grader_version = "evalplus-0.3.1-v1" if plus else "sandbox-tests-v3"  # v3: the sandbox environment
        self.limits = Limits(wall_s=timeout_s, cpu_s=int(timeout_s), memory_mb=memory_mb,
                             allow_unsafe_code=allow_unsafe_code, guard=not plus)
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
        else:  # EvalPlus's inputs, reference and oracles, run by ttc/sandbox/plus_check.py
            hidden = plus_check_program({
                "dataset": "humaneval" if self.dataset == "humaneval_plus" else "mbpp", "task_id": row["task_id"],
                "entry": entry, "atol": row["atol"] or 0, "reference": row["prompt"] + row["canonical_solution"],
                "base": json.dumps(row["base_input"] or []), "plus": json.dumps(row["plus_input"] or [])})
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
        todo = [(i, self._program(a, p)) for i, (a, p) in enumerate(zip(answers, problems)) if a is not None]
        ran = run_many([src for _, src in todo], self.limits, self.workers)
        out: list[Outcome | None] = [None] * len(answers)
        for (i, _), outcome in zip(todo, ran):
            out[i] = outcome
        return out

    def _program(self, answer: str, problem: Problem) -> str:
        """What the sandbox runs for one candidate: its program and the hidden tests."""
        code = program(problem.prompt, answer, problem.metadata["entry_point"])
        return plus_check_call(problem.reference, code) if self.dataset != "humaneval" else code + "\n" + problem.reference


def check_report(outcome: Outcome | None) -> dict | None:
    """What EvalPlus's check (ttc/sandbox/plus_check.py) said about a HumanEval+/MBPP+ run: status, the oracle that
    decided, and for a failure the phase, first failing input, its expected output and what the program did."""
    if outcome is None:
        return None
    said = [x for x in outcome.stderr.splitlines() if x.startswith(VERDICT)]
    try:
        return json.loads(said[-1][len(VERDICT):]) if said else None
    except ValueError:
        return None


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
