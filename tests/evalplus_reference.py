"""EvalPlus 0.3.1 as a reference grader for ttc's code grades (a helper for slow tests, run by hand as a script).

EvalPlus lives in its own environment (TTC_EVALPLUS_VENV, default ~/.cache/ttc-evalplus-venv, built here on first
use; not a project dependency). It grades every problem of the dataset file it is given, so a slice of the shared
HumanEval+ / MBPP+ file is written as a file of its own and passed through HUMANEVAL_OVERRIDE_PATH /
MBPP_OVERRIDE_PATH. `completions` makes full-program candidates of known kinds (canonical, wrong, slow, and the
ones EvalPlus accepts but a naive harness rejects: reordered sets, truthy stand-ins, 1-ulp floats, ints for
bools, numpy scalars). `python tests/evalplus_reference.py` grades them all and writes /tmp/evalplus_verdicts.json.
"""

from __future__ import annotations

import fcntl
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from collections import Counter
from pathlib import Path
from typing import Literal

Dataset = Literal["humaneval", "mbpp"]
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = {"humaneval": DATA / "humaneval" / "HumanEvalPlus.jsonl.gz", "mbpp": DATA / "mbpp" / "MbppPlus.jsonl.gz"}
OVERRIDE = {"humaneval": "HUMANEVAL_OVERRIDE_PATH", "mbpp": "MBPP_OVERRIDE_PATH"}
VENV = Path(os.environ.get("TTC_EVALPLUS_VENV", Path.home() / ".cache" / "ttc-evalplus-venv"))
PIN = "evalplus==0.3.1"
SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
          "intersection_array", "find_dissimilar", "Diff"}  # evalplus/eval/_special_oracle.py
NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}
MUTATIONS = {"+": "-", "-": "+", "<": "<=", ">": ">=", "<=": "<", ">=": ">", "==": "!=", "!=": "==", "&": "|",
             "|": "&", "//": "/", "%": "//", "and": "or", "or": "and", "True": "False", "False": "True",
             "max": "min", "min": "max"}
TRANSFORMS = {  # kind -> expression of the canonical result `r`
    "reordered": "type(r)(reversed(list(r))) if isinstance(r, (list, tuple)) else set(r)",
    "truthy": "r is not None",
    "ulp": "[math.nextafter(x, math.inf) for x in r] if isinstance(r, list) else math.nextafter(r, math.inf)",
    "int_for_bool": "int(r)",
    "numpy": "np.float64(r) if isinstance(r, float) else np.int64(r)",
}
HEADERS = {"ulp": "import math\n", "numpy": "import numpy as np\n"}  # only numpy's kind needs numpy
PROBE = """import json, sys
from copy import deepcopy
from evalplus.data.mbpp import mbpp_deserialize_inputs
def label(x):
    if isinstance(x, bool): return "bool"
    if isinstance(x, int): return "int" if abs(x) < 2**63 else "bigint"
    if isinstance(x, float): return "float"
    if isinstance(x, list) and x and all(isinstance(i, float) for i in x): return "floats"
    return "other"
out = {}
for row in map(json.loads, sys.stdin):
    g, inputs = {}, row["base_input"]
    if sys.argv[1] == "mbpp": inputs = mbpp_deserialize_inputs(row["task_id"], inputs)
    exec(row["prompt"] + row["canonical_solution"], g)
    out[row["task_id"]] = sorted({label(g[row["entry_point"]](*deepcopy(i))) for i in inputs})
print(json.dumps(out))
"""


def evalplus_python() -> Path:
    """The python of EvalPlus's own environment, built with `pip install evalplus==0.3.1` (all its declared
    dependencies) on first use; a marker written last tells a finished install from a half-made one."""
    py, marker = VENV / "bin" / "python", VENV / ".ttc-installed"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == PIN:
            return py
        shutil.rmtree(VENV, ignore_errors=True)
        base = shutil.which("python3.11") or getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", PIN], check=True)
        marker.write_text(PIN)
    return py


def _rows(dataset: Dataset) -> list[dict]:
    """Every row of the shared dataset file, in file order."""
    with gzip.open(FILES[dataset], "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_slice(dataset: Dataset, task_ids: list[str], out: Path) -> Path:
    """The shared file's rows for `task_ids` (in file order) as a JSONL file EvalPlus can be pointed at."""
    wanted = set(task_ids)
    rows = [r for r in _rows(dataset) if r["task_id"] in wanted]
    missing = wanted - {r["task_id"] for r in rows}
    assert not missing, f"not in {FILES[dataset].name}: {sorted(missing)}"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def evalplus_verdicts(dataset: Dataset, data_file: Path, samples: list[dict]) -> list[dict]:
    """EvalPlus's verdict on each `{"task_id", "solution"}` sample (in input order): base and plus status, and
    `passed` (both "pass"). Every task of `data_file` needs at least one sample. Runs with a fresh cache dir."""
    with tempfile.TemporaryDirectory(prefix="ttc-evalplus-") as tmp:
        path = Path(tmp) / "samples.jsonl"
        path.write_text("".join(json.dumps({"task_id": s["task_id"], "solution": s["solution"]}) + "\n"
                                for s in samples))
        env = {**os.environ, OVERRIDE[dataset]: str(data_file), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        cmd = [str(evalplus_python()), "-m", "evalplus.evaluate", "--dataset", dataset, "--samples", str(path),
               "--parallel", "2"]
        done = subprocess.run(cmd, env=env, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"evalplus.evaluate exited {done.returncode}:\n{done.stderr[-3000:]}")
        results = json.loads((Path(tmp) / "samples_eval_results.json").read_text())["eval"]
    seen: Counter[str] = Counter()
    verdicts = []
    for s in samples:  # EvalPlus orders each task's results by completion_id, the sample's order within its task
        r = results[s["task_id"]][seen[s["task_id"]]]
        seen[s["task_id"]] += 1
        verdicts.append({"base_status": r["base_status"], "plus_status": r["plus_status"],
                         "passed": r["base_status"] == r["plus_status"] == "pass"})
    return verdicts


def output_labels(dataset: Dataset, rows: list[dict]) -> dict[str, list[str]]:
    """Per task, the kinds of value its canonical solution returns on the base inputs (run in EvalPlus's venv)."""
    out = subprocess.run([str(evalplus_python()), "-c", PROBE, dataset], check=True, capture_output=True,
                         text=True, input="".join(json.dumps(r) + "\n" for r in rows))
    return json.loads(out.stdout)


def _reference(dataset: Dataset, row: dict) -> str:
    """The canonical solution as a complete module (HumanEval+ keeps it as a body after the prompt)."""
    return row["prompt"] + row["canonical_solution"] if dataset == "humaneval" else row["canonical_solution"]


def _mutate(code: str, start: int) -> str | None:
    """`code` with its first mutable operator or int literal at or after line `start` changed, or None."""
    lines = code.splitlines(keepends=True)
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.start[0] < start:
            continue
        if tok.type in (tokenize.OP, tokenize.NAME) and tok.string in MUTATIONS:
            new = MUTATIONS[tok.string]
        elif tok.type == tokenize.NUMBER and tok.string.isdigit():
            new = str(int(tok.string) + 1)
        else:
            continue
        (row, col), end = tok.start, tok.end[1]
        lines[row - 1] = lines[row - 1][:col] + new + lines[row - 1][end:]
        return "".join(lines)
    return None


def _wrapped(reference: str, entry: str, body: str, header: str = "") -> str:
    """The reference renamed `_reference_impl` (recursive calls too) under an entry point with `body`."""
    impl = re.sub(rf"\b{re.escape(entry)}\(", "_reference_impl(", reference)
    return f"{header}{impl}\n\ndef {entry}(*args):\n{body}"


def _applicable(entry: str, labels: list[str]) -> list[str]:
    """The lenient-comparison kinds that apply to a task whose canonical returns values of `labels`."""
    if entry in SET_EQ:
        return ["reordered"]
    if entry in NOT_NONE:
        return ["truthy"]
    kinds = ["ulp"] if labels and set(labels) <= {"float", "floats"} else []
    kinds += ["int_for_bool"] if labels == ["bool"] else []
    return kinds + (["numpy"] if labels and set(labels) <= {"int", "float"} else [])


def completions(dataset: Dataset, rows: list[dict]) -> list[dict]:
    """Candidate programs of known kinds for each row, each `{"task_id", "kind", "code"}` with `code` a complete
    module defining the entry point."""
    labels = output_labels(dataset, rows)
    out = []
    for row in rows:
        entry, ref = row["entry_point"], _reference(dataset, row)
        start = row["prompt"].count("\n") + 1 if dataset == "humaneval" else 1
        kinds = {"canonical": ref, "none": f"def {entry}(*args):\n    return None\n",
                 "mutated": _mutate(ref, start),
                 "syntax_error": f"def {entry}(*args):\n    return (\n",
                 "infinite_loop": f"def {entry}(*args):\n    while True:\n        pass\n",
                 "too_slow": _wrapped(ref, entry, "    time.sleep(1.5)\n    return _reference_impl(*args)\n",
                                      "import time\n")}
        for kind in _applicable(entry, labels[row["task_id"]]):
            body = f"    r = _reference_impl(*args)\n    return {TRANSFORMS[kind]}\n"
            kinds[kind] = _wrapped(ref, entry, body, HEADERS.get(kind, ""))
        out += [{"task_id": row["task_id"], "kind": k, "code": c} for k, c in kinds.items() if c is not None]
    return out


HUMANEVAL_SLICE = [f"HumanEval/{i}" for i in (0, 2, 3, 4, 13, 16, 24, 32, 35, 55, 75, 130)]
MBPP_SLICE = [f"Mbpp/{i}" for i in (2, 7, 111, 140, 232, 579, 769, 737, 787, 794, 581, 14, 3, 803, 17)]


def main() -> None:
    """Grade every kind of candidate on the HumanEval+ and MBPP+ slices; print a kind x passes table."""
    evalplus_python()
    graded = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, ids in (("humaneval", HUMANEVAL_SLICE), ("mbpp", MBPP_SLICE)):
            data = write_slice(dataset, ids, Path(tmp) / f"{dataset}.jsonl")
            rows = {r["task_id"]: r for r in map(json.loads, data.read_text().splitlines())}
            cands = completions(dataset, list(rows.values()))
            samples = [{**c, "solution": rows[c["task_id"]]["prompt"] + "\n" + c["code"]} for c in cands]
            graded += [{**s, **v} for s, v in zip(samples, evalplus_verdicts(dataset, data, samples))]
    table: dict[str, list[int]] = {}
    for g in graded:
        n_pass = table.setdefault(g["kind"], [0, 0])
        n_pass[0] += 1
        n_pass[1] += g["passed"]
    print(f"{'kind':<14}{'n':>4}{'EvalPlus pass':>15}")
    for kind, (n, passed) in table.items():
        print(f"{kind:<14}{n:>4}{passed:>15}")
    Path("/tmp/evalplus_verdicts.json").write_text(json.dumps(graded, indent=1))


if __name__ == "__main__":
    main()
