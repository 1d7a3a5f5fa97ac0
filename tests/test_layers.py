"""The house's floors: one import name (`ttc`), imports that point one way, capabilities as Protocols, and
strategies and verifiers that never receive what the grader uses."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ttc.contracts import protocols
from ttc.contracts.records import PUBLIC_METADATA, Budget, Candidate, Completion, Ledger, Problem, ProblemResult

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OLD_NAMES = ("harness", "strategies", "verifiers", "tasks", "analysis")
FLOORS = ("contracts", "generators", "strategies", "verifiers", "tasks", "sandbox", "analysis", "harness")
ALLOWED = {  # floor -> the floors it may import (its own always)
    "contracts": set(),
    "sandbox": {"contracts"},
    "generators": {"contracts"},
    "tasks": {"contracts", "sandbox"},
    "verifiers": {"contracts", "sandbox"},
    "strategies": {"contracts"},
    "analysis": {"contracts"},
    "harness": set(FLOORS),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (function-level imports included)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_floors_import_one_way_and_only_through_ttc():
    bad = []
    for floor in FLOORS:
        for path in sorted((ROOT / "ttc" / floor).rglob("*.py")):
            for line, module in imports_of(path):
                head = module.split(".")
                if head[0] in OLD_NAMES + ("contracts", "generators", "sandbox"):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (not under ttc.)")
                elif head[0] == "ttc" and len(head) > 1 and head[1] != floor and head[1] not in ALLOWED[floor]:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {floor} -> {head[1]} ({module})")
    for folder in ("tests", "scripts", "bench"):
        for path in sorted((ROOT / folder).glob("*.py")):
            bad += [f"{path.relative_to(ROOT)}:{line} imports {m}" for line, m in imports_of(path)
                    if m.split(".")[0] in OLD_NAMES]
    assert not bad, "\n".join(bad)


def test_a_files_path_is_its_import_path():
    import importlib

    assert not [f for f in FLOORS if (ROOT / f).exists()], "a floor outside ttc/"
    for path in sorted((ROOT / "ttc").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        assert Path(importlib.util.find_spec(name).origin).resolve() == path.resolve(), name


def test_the_walk_sees_function_level_and_forbidden_imports(tmp_path):
    probe = tmp_path / "x.py"
    probe.write_text("def f():\n    from ttc.analysis.optimal import bin_of\n    import verifiers\n")
    assert imports_of(probe) == [(2, "ttc.analysis.optimal"), (3, "verifiers")]


def test_old_top_level_names_do_not_reach_our_code(tmp_path):
    code = ("import importlib.util, json, sys\n"
            f"names = {OLD_NAMES + ('contracts', 'generators', 'sandbox')!r}\n"
            "specs = {n: importlib.util.find_spec(n) for n in names}\n"
            "print(json.dumps({n: (s.origin or str(list(s.submodule_search_locations or []))) if s else None "
            "for n, s in specs.items()}))\n"
            "import ttc.harness.cli, ttc.verifiers.prm\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in names))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found, loaded = out.stdout.strip().splitlines()
    assert str(ROOT) not in found, f"an old top-level name resolves into the repository: {found}"
    assert loaded == "[]"
    top = subprocess.run([sys.executable, "-c", "import ttc, ttc.harness; print(ttc.harness.__name__)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert top.stdout.strip() == "ttc.harness"


def test_every_conf_target_names_the_ttc_namespace():
    targets = [line.split(":", 1)[1].strip() for path in (ROOT / "conf").rglob("*.yaml")
               for line in path.read_text().splitlines() if line.strip().startswith("_target_:")]
    assert targets and all(t.startswith(("ttc.", "hydra_plugins.")) for t in targets), targets


def test_capabilities_are_protocols_checked_by_isinstance(small):
    from ttc.generators.openai_client import OpenAIGenerator
    from ttc.tasks.arith_task import ArithTask
    from ttc.tasks.code_task import CodeTask

    assert isinstance(small, protocols.BeamSearcher) and isinstance(small, protocols.Carded)
    assert isinstance(small, protocols.Generator)
    client = OpenAIGenerator(base_url="http://127.0.0.1:9/v1", model="x")
    assert isinstance(client, protocols.Generator) and not isinstance(client, protocols.BeamSearcher)
    code = CodeTask("humaneval", path=str(DATA / "humaneval" / "HumanEval.jsonl.gz"), limit=2)
    assert isinstance(code, protocols.BatchGrader) and isinstance(code, protocols.Task)
    arith = ArithTask(per_level=1)
    assert isinstance(arith, protocols.Task) and not isinstance(arith, protocols.BatchGrader)


def test_beam_search_refuses_a_generator_without_the_capability():
    from ttc.contracts.errors import ConfigError
    from ttc.generators.openai_client import OpenAIGenerator
    from ttc.strategies.beam_search import BeamSearch

    with pytest.raises(ConfigError, match="needs a generator with beam search"):
        BeamSearch(width=2).run([Problem("p", "Q", "")], OpenAIGenerator(base_url="http://127.0.0.1:9/v1", model="x"),
                                None, lambda t: t, 0)


def _tasks():
    from ttc.tasks.arith_task import ArithTask
    from ttc.tasks.code_task import CodeTask
    from ttc.tasks.gsm8k import GSM8KTask
    from ttc.tasks.math500 import Math500Task
    from ttc.tasks.mnli import MNLITask

    yield ArithTask(per_level=4)
    yield GSM8KTask(path=str(next((DATA / "gsm8k").glob("*test*.jsonl"))), limit=20)
    yield Math500Task(path=str(next((DATA / "math500").glob("*.jsonl"))), limit=20)
    yield MNLITask(path=str(next((DATA / "mnli").glob("*matched*.jsonl"))), limit=20)
    yield CodeTask("humaneval", path=str(DATA / "humaneval" / "HumanEval.jsonl.gz"), limit=40)
    yield CodeTask("humaneval_plus", path=str(DATA / "humaneval" / "HumanEvalPlus.jsonl.gz"), limit=40)
    yield CodeTask("mbpp_plus", path=str(DATA / "mbpp" / "MbppPlus.jsonl.gz"), limit=40)


def test_nothing_a_strategy_or_verifier_receives_holds_what_the_grader_uses():
    seen = 0
    for task in _tasks():
        for p in task.problems():
            public = p.public()
            assert public.reference == "" and set(public.metadata) <= set(PUBLIC_METADATA), (task.name, p.id)
            given = repr(sorted(public.metadata.items())) + public.prompt
            assert p.reference not in [v for v in public.metadata.values() if isinstance(v, str)], (task.name, p.id)
            if "canonical" in p.metadata:  # code: hidden tests and the canonical solution stay with the grader
                assert p.reference.strip() not in given and p.metadata["canonical"].strip() not in given, p.id
                assert "canonical" in repr(p.metadata) and "canonical" not in repr(public.metadata)
            seen += 1
    assert seen >= 150


class _Spy:
    """A strategy that records what it is given and answers every problem with one empty candidate."""

    name, budget = "spy", Budget(1)

    def __init__(self) -> None:
        self.given: list[Problem] = []

    def run(self, problems, generator, verifier, extract, seed):
        self.given += list(problems)
        c = Completion(0, 0, "", 0, 0, 0, 0.0, "stop", 0.0)
        return [ProblemResult(p.id, (Candidate(c, None),), 0, Ledger(generated_tokens=1), self.budget)
                for p in problems]


def test_the_run_loop_gives_strategies_public_problems_and_times_them_once():
    from ttc.harness.run import timed_run
    from ttc.tasks.code_task import CodeTask

    task = CodeTask("humaneval", path=str(DATA / "humaneval" / "HumanEval.jsonl.gz"), limit=3)
    spy = _Spy()
    results = timed_run(spy, task.problems(), None, None, task.extract, 0)
    assert [p.id for p in spy.given] == [p.id for p in task.problems()]
    assert all(p.reference == "" and set(p.metadata) == {"entry_point"} for p in spy.given)
    assert all(r.ledger.wall_s > 0 and r.ledger.generated_tokens == 1 for r in results)
