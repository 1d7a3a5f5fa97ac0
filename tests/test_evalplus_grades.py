"""HumanEval+ and MBPP+ graded as EvalPlus 0.3.1 grades them (ttc/sandbox/plus_check.py runs EvalPlus's own code).

The fast tests need no EvalPlus of their own: they hold ttc to verdicts EvalPlus's rules fix by construction
(answers it accepts that a naive harness rejects; a correct but far too slow answer it rejects) and to the
environment programs run in. The slow test installs EvalPlus 0.3.1 into its own venv and compares every verdict.
"""

import gzip
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from ttc.analysis.estimators import pass_at_k
from ttc.tasks.code_task import CodeTask, check_report

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {"humaneval": DATA / "humaneval" / "HumanEvalPlus.jsonl.gz", "mbpp": DATA / "mbpp" / "MbppPlus.jsonl.gz"}

# Answers real models write that EvalPlus accepts: each is right, but not in the reference's exact order or type.
ACCEPTED = {
    ("mbpp", "Mbpp/7"): ("set-like result in another order",
                         "import re\ndef find_char_long(text):\n    return sorted(re.findall(r'\\b\\w{4,}\\b', text), "
                         "reverse=True)\n"),
    ("mbpp", "Mbpp/737"): ("truthy bool where the reference returns a regex match",
                           "import re\ndef check_str(string):\n    return bool(re.search(r'^[aeiouAEIOU][A-Za-z0-9_]*', "
                           "string))\n"),
    ("humaneval", "HumanEval/2"): ("a float 1 ulp away", "import math\ndef truncate_number(number):\n"
                                                         "    return math.nextafter(number % 1.0, math.inf)\n"),
    ("humaneval", "HumanEval/0"): ("1 for True", "def has_close_elements(numbers, threshold):\n    return int(any("
                                   "abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:]))\n"),
    ("humaneval", "HumanEval/4"): ("a numpy solution", "import numpy as np\ndef mean_absolute_deviation(numbers):\n"
                                   "    x = np.array(numbers)\n    return float(np.mean(np.abs(x - x.mean())))\n"),
}
TOO_SLOW = ("import time\ndef truncate_number(number):\n    time.sleep(1.5)\n    return number % 1.0\n")


def _task(dataset: str, ids: list[str], tmp: Path) -> CodeTask:
    rows = [r for r in map(json.loads, gzip.open(FILES[dataset], "rt")) if r["task_id"] in ids]
    path = tmp / f"{dataset}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return CodeTask("humaneval_plus" if dataset == "humaneval" else "mbpp_plus", path=str(path), workers=2)


def test_answers_evalplus_accepts_pass_and_a_far_too_slow_one_fails_naming_its_input(tmp_path):
    for dataset in ("humaneval", "mbpp"):
        cases = {tid: v for (d, tid), v in ACCEPTED.items() if d == dataset}
        task = _task(dataset, sorted(cases), tmp_path)
        problems = {p.id: p for p in task.problems()}
        outcomes = task.outcomes([code for _, code in cases.values()], [problems[t] for t in cases])
        for (tid, (kind, _)), outcome in zip(cases.items(), outcomes):
            assert outcome.passed, (tid, kind, outcome.reason)
            assert check_report(outcome)["status"] == "pass"
    task = _task("humaneval", ["HumanEval/4"], tmp_path)  # EvalPlus's tolerance needs the reference's type:
    raw = ACCEPTED[("humaneval", "HumanEval/4")][1].replace("return float(", "return (")  # np.float64, 1 ulp off
    assert "returned np.float64(1.282080661172837)" in task.outcomes([raw], task.problems())[0].reason
    task = _task("humaneval", ["HumanEval/2"], tmp_path)
    problem = task.problems()[0]
    slow, wrong = task.outcomes([TOO_SLOW, "def truncate_number(number):\n    return number // 1\n"], [problem] * 2)
    assert not slow.passed and "base input 1 of 3: took over 1 s (the input's limit)" in slow.reason
    report = check_report(wrong)
    assert report["status"] == "fail" and report["phase"] == "base" and report["index"] == 0
    assert report["input"] == "[3.5]" and report["expected"] == "0.5" and report["cause"] == "returned 3.0"
    assert report["oracle"].startswith("==, else same type and allclose")


def test_only_evalplus_tests_run_and_set_results_compare_as_sets(tmp_path):
    # Mbpp/2's original `assertion` pins one set-iteration order; EvalPlus never runs it and compares as sets
    task = _task("mbpp", ["Mbpp/2"], tmp_path)
    problem = task.problems()[0]
    backwards = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b), reverse=True))\n"
    outcome = task.outcomes([backwards], [problem])[0]
    assert outcome.passed and check_report(outcome)["oracle"] == "set equality"


def test_programs_run_in_the_declared_environment_not_the_hosts():
    from ttc.sandbox.process import Limits, run_program

    probe = ("import sys, numpy, importlib.util\nprint(sys.prefix, numpy.__version__)\n"
             "assert importlib.util.find_spec('yaml') is None and importlib.util.find_spec('apt') is None\n"
             "assert not any('dist-packages' in p for p in sys.path), sys.path\n")
    outcome = run_program(probe, Limits(wall_s=20, cpu_s=20))
    assert outcome.passed, outcome.reason
    from ttc.sandbox.environment import current

    env = current()
    assert outcome.stdout.split() == [str(env.path), next(p.split("==")[1] for p in env.pins if p.startswith("numpy"))]


@pytest.mark.slow
def test_every_verdict_equals_evalplus_0_3_1_in_its_own_environment(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from evalplus_reference import HUMANEVAL_SLICE, MBPP_SLICE, completions, evalplus_python, evalplus_verdicts, \
        write_slice

    evalplus_python()
    graded = []
    for dataset, ids in (("humaneval", HUMANEVAL_SLICE), ("mbpp", MBPP_SLICE)):
        data = write_slice(dataset, ids, tmp_path / f"{dataset}.jsonl")
        rows = {r["task_id"]: r for r in map(json.loads, data.read_text().splitlines())}
        samples = [{**c, "solution": rows[c["task_id"]]["prompt"] + "\n" + c["code"]}
                   for c in completions(dataset, list(rows.values()))]
        theirs = evalplus_verdicts(dataset, data, samples)
        task = _task(dataset, ids, tmp_path)
        problems = {p.id: p for p in task.problems()}
        ours = task.outcomes([s["code"] for s in samples], [problems[s["task_id"]] for s in samples])
        graded += [{**s, "evalplus": t["passed"], "ttc": o.passed} for s, t, o in zip(samples, theirs, ours)]
    # HumanEval/32: EvalPlus 0.3.1 records no passing find_zero input, so it fails every answer; ttc records them
    zero = [g for g in graded if g["task_id"] == "HumanEval/32"]
    assert not any(g["evalplus"] for g in zero) and next(g["ttc"] for g in zero if g["kind"] == "canonical")
    rest = [g for g in graded if g["task_id"] != "HumanEval/32"]
    assert [(g["task_id"], g["kind"], g["ttc"]) for g in rest] == [(g["task_id"], g["kind"], g["evalplus"]) for g in rest]
    kinds = defaultdict(list)
    for g in rest:
        kinds[g["kind"]].append(g["ttc"])
    assert all(kinds["canonical"]) and all(kinds["reordered"]) and all(kinds["truthy"]) and all(kinds["int_for_bool"])
    assert not any(kinds["too_slow"]) and not any(kinds["infinite_loop"]) and len(rest) >= 150
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for g in rest:
        per[g["task_id"]].append((g["ttc"], g["evalplus"]))
    ours, theirs = ([sum(pass_at_k(len(v), sum(x[side] for x in v), 1) for v in per.values()) / len(per)]
                    for side in (0, 1))
    assert ours == theirs


def test_ttc_grade_reports_the_deciding_oracle_and_the_first_failing_input(tmp_path):
    task_file = tmp_path / "mbpp.jsonl"
    rows = [r for r in map(json.loads, gzip.open(FILES["mbpp"], "rt")) if r["task_id"] == "Mbpp/2"]
    task_file.write_text(json.dumps(rows[0]) + "\n")
    samples = tmp_path / "samples.jsonl"
    lines = [{"task_id": "Mbpp/2", "completion": c} for c in (
        "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
        "def similar_elements(a, b):\n    return tuple(set(a) | set(b))\n")]
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = subprocess.run([sys.executable, "-m", "ttc.harness.cli", "grade", "task=mbpp_plus", f"task.path={task_file}",
                          f"samples={samples}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    good, bad = [json.loads(x) for x in (tmp_path / "samples_results.jsonl").read_text().splitlines()]
    assert good["passed"] and good["check"] == {"status": "pass", "oracle": "set equality"}
    assert not bad["passed"] and bad["check"]["oracle"] == "set equality" and bad["check"]["index"] == 0
    assert bad["check"]["input"] == "[(3, 4, 5, 6), (5, 7, 4, 10)]" and bad["check"]["phase"] == "base"
    assert bad["result"].startswith("failed: base input 1 of ")
