"""A table of malformed command lines and data files: each stops with exit 2 and exactly one stderr line that
names the bad key or file, with no traceback and nothing left on disk (no run directory, no .hydra/)."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODELS = Path(__file__).resolve().parents[1] / "models"
TTC = [sys.executable, "-m", "ttc.harness.cli"]

# (arguments, text the one line must contain); {d} is a directory of prepared bad files
CASES = [
    (["strategy=nope"], "strategy=nope is not valid; choose one of:"),
    (["task=gsm9k"], "task=gsm9k is not valid; choose one of:"),
    (["verifier=nope"], "verifier=nope is not valid; choose one of:"),
    (["logger=nope"], "logger=nope is not valid; choose one of:"),
    (["experiment=nope"], "experiment=nope is not valid; choose one of:"),
    (["generator.model=tiny-9m"], "generator.model=tiny-9m is neither a known model"),
    (["generator.model=/no/such/dir"], "generator.model=/no/such/dir is neither"),
    (["generator.model={d}/truncated"], "model.safetensors is truncated or padded"),
    (["generator.model={d}/noconfig"], "the directory has no config.json"),
    (["generator.dtype=float8"], "generator.dtype=float8 is not valid"),
    (["generator.max_batch_rows=0"], "generator.max_batch_rows=0 must be at least 1"),
    (["generator.max_batch_tokens=0"], "generator.max_batch_tokens=0 must be at least 1"),
    (["generator=openai", "generator.base_url=http://127.0.0.1:9/v1", "generator.retries=0"],
     "generator.base_url=http://127.0.0.1:9/v1: cannot reach the server"),
    (["task=gsm8k", f"task.path={DATA}/gsm8k/test.jsonl", "task.limit=3", "strategy=greedy", "verifier=none"],
     "task=gsm8k: the longest prompt (gsm8k-"),
    (["strategy.n=0"], "strategy.n=0: budget 0 samples is impossible"),
    (["strategy.n=-1"], "strategy.n=-1: budget -1 samples is impossible"),
    (["strategy.n=1e9"], "above the ceiling of 65536"),
    (["strategy.n=abc"], "strategy.n=abc must be a number"),
    (["strategy=beam_search", "strategy.width=-2"], "budget -2 beams is impossible"),
    (["strategy=beam_search", "strategy.width=abc"], "strategy.width=abc must be a number"),
    (["strategy.selection=best"], "strategy.selection=best is not valid; choose one of:"),
    (["strategy.selection=weighted_vote", "verifier=none"], "strategy.selection=weighted_vote needs a verifier"),
    (["strategy.temperature=-1"], "strategy.temperature=-1 is out of range (valid: >= 0)"),
    (["strategy.temperature=hot"], "strategy.temperature=hot must be a number"),
    (["strategy.top_p=1.5"], "strategy.top_p=1.5 is out of range (valid: in (0, 1])"),
    (["strategy.top_k=-5"], "strategy.top_k=-5 is out of range"),
    (["strategy.max_tokens=0"], "strategy.max_tokens=0 is out of range"),
    (["strategy.stop=5"], "strategy.stop=5 must be a list"),
    (["strategy.nn=4"], "strategy.nn is not a setting of strategy; valid:"),
    (["strategy.n=[1"], "override syntax:"),
    (["strategy.n=2,4"], "strategy.n=2,4 is a sweep (several values): run it with -m"),
    (["strategy=adaptive"], "strategy.policy is required and has no value"),
    (["seed=abc"], "seed=abc must be a number"),
    (["seed=1.5"], "seed=1.5 must be a whole number"),
    (["batch_size=0"], "batch_size=0 must be at least 1"),
    (["num_shards=0"], "num_shards=0 must be at least 1"),
    (["shard=5", "num_shards=2"], "shard=5 must be in 0..1"),
    (["task.levels=[1,7]"], "task.levels contains 7"),
    (["task.per_level=0"], "task.per_level=0 must be at least 1"),
    (["task=jsonl"], "task.path is required and has no value"),
    (["task=jsonl", "task.path=/no/file.jsonl"], "task.path=/no/file.jsonl: no such file"),
    (["task=jsonl", "task.path={d}/empty.jsonl"], "empty.jsonl is empty"),
    (["task=jsonl", "task.path={d}/binary.jsonl"], "binary.jsonl is not UTF-8 text"),
    (["task=jsonl", "task.path={d}/bad.jsonl"], "bad.jsonl line 2 is not valid JSON"),
    (["task=humaneval", "task.path={d}/empty.jsonl"], "empty.jsonl is empty"),
    (["task=humaneval", "task.path={d}/fake.jsonl.gz"], "fake.jsonl.gz ends in .gz but is not a whole gzip file"),
    (["task=humaneval", f"task.path={DATA}/humaneval/HumanEval.jsonl.gz", "task.timeout_s=-1"],
     "task.timeout_s=-1 and task.memory_mb=4096 must both be positive"),
    (["task=gsm8k", f"task.path={DATA}/gsm8k/test.jsonl", "task.mode=chat"], "task.mode=chat needs task.chat_tokenizer"),
    (["task=math500", f"task.path={DATA}/math500/test.jsonl", "task.mode=weird"], "task.mode=weird is not valid"),
    (["task=mnli", f"task.path={DATA}/mnli/dev_matched.jsonl", "task.mode=bad"], "task.mode=bad is not valid"),
    (["task=mnli", f"task.path={DATA}/mnli/dev_matched.jsonl", "strategy=majority"],
     "task.mode=score lists label choices for strategy=label_scoring; strategy=majority generates"),
    (["strategy=label_scoring"], "strategy=label_scoring scores the choices a problem lists"),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.jsonl").write_text("")
    (d / "binary.jsonl").write_bytes(bytes(range(128, 256)) * 4)
    (d / "bad.jsonl").write_text('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?", "answer": 4\n')
    (d / "fake.jsonl.gz").write_text('{"task_id": "x"}\n')
    (d / "truncated").mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "card.json"):
        (d / "truncated" / name).write_bytes((MODELS / "tiny-1m" / name).read_bytes())
    (d / "truncated" / "model.safetensors").write_bytes((MODELS / "tiny-1m" / "model.safetensors").read_bytes()[:50000])
    (d / "noconfig").mkdir()
    return d


def _run(case: tuple[list[str], str], bad: Path, root: Path) -> tuple[list[str], str, int, list[str], list[str]]:
    args, needle = case
    work = root / f"case{CASES.index(case)}"
    work.mkdir()
    argv = [a.replace("{d}", str(bad)) for a in args]
    res = subprocess.run([*TTC, *argv, "logger=none", f"hydra.run.dir={work}/run", f"hydra.sweep.dir={work}/sweep"],
                         cwd=work, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    return args, needle, res.returncode, lines, sorted(p.name for p in work.iterdir())


def test_every_malformed_input_stops_with_one_line_and_leaves_nothing(bad_files, tmp_path):
    assert len(CASES) >= 40
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: _run(c, bad_files, tmp_path), CASES))
    wrong = []
    for args, needle, code, lines, left in results:
        ok = code == 2 and len(lines) == 1 and lines[0].startswith("ttc: error: ") and needle in lines[0] \
            and "Traceback" not in lines[0] and not left
        if not ok:
            wrong.append(f"{' '.join(args)} -> exit {code}, left {left}, stderr {lines[-3:]}")
    assert not wrong, "\n".join(wrong)
