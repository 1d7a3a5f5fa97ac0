"""ttc against EleutherAI lm-evaluation-harness on identical maj@8 work, whole processes, interleaved.

    python bench/bench_lm_eval.py [--model tiny-1m] [--per-level 10] [--repeats 3] [--threads 1]

The same tiny-world problems (levels 1-5), the same prompt, 8 samples each at temperature 0.8 with no
truncation (top-k 0, min-p 0), up to 160 new tokens, majority vote over the `Answer: N` numbers, graded by
exact match. ttc runs `ttc strategy=majority strategy.n=8 ...`; lm-eval 0.4.13 runs a task YAML written here
(`repeats: 8`, regex + majority_vote filters) through its HF backend. lm-eval lives in its own environment
(TTC_LMEVAL_VENV, default ~/.cache/ttc-lmeval-venv, created and installed by this script on first use; not a
project dependency). Prints each side's wall time (median, min-max), the ratio ttc / lm-eval (goal <= 0.5) and
both accuracies with ttc's 95% interval (sampling differs: the seeds are not shared, so accuracies agree only
within sampling error). torch threads are fixed (--threads) for both, since the default can slow a shared box 10x.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ttc.generators.models import resolve_model
from ttc.tasks.arith_task import ArithTask

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("TTC_LMEVAL_VENV", Path.home() / ".cache" / "ttc-lmeval-venv"))
TASK = """task: ttc_arith_maj8
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{answer}}}}"
repeats: 8
generation_kwargs:
  until: ["Q:"]
  do_sample: true
  temperature: 0.8
  top_k: 0
  max_gen_toks: 160
filter_list:
  - name: maj@8
    filter:
      - function: regex
        regex_pattern: "Answer:\\\\s*(-?\\\\d+)"
      - function: majority_vote
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


def ensure_venv() -> Path:
    """lm-eval's own environment (created once): CPU torch and lm-eval[hf] 0.4.13."""
    exe = VENV / "bin" / "lm_eval"
    if not exe.exists():
        subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
        pip = str(VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "torch==2.13.0"], check=True)
        subprocess.run([pip, "install", "-q", "lm-eval[hf]==0.4.13"], check=True)
    return exe


def write_task(folder: Path, per_level: int) -> None:
    problems = ArithTask(per_level=per_level).problems()
    data = folder / "problems.jsonl"
    data.write_text("".join(json.dumps({"prompt": p.prompt, "answer": p.reference}) + "\n" for p in problems))
    (folder / "ttc_arith_maj8.yaml").write_text(TASK.format(data=data))


def run_ttc(out: Path, model: str, per_level: int, env: dict) -> tuple[float, dict]:
    cmd = [str(ROOT / ".venv" / "bin" / "ttc"), f"task.per_level={per_level}", "strategy=majority", "strategy.n=8",
           "strategy.temperature=0.8", "strategy.min_p=0", "strategy.max_tokens=160", "verifier=none",
           "logger=none", f"generator.model={model}", f"hydra.run.dir={out}"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    rows = [r for r in csv.DictReader(open(out / "curves.csv"))
            if r["series"] == "majority" and r["budget"] == "8" and r["level"] == "all"]
    return wall, rows[0]


def run_lm_eval(exe: Path, tasks: Path, out: Path, model: str, env: dict) -> tuple[float, float]:
    cmd = [str(exe), "--model", "hf", "--model_args", f"pretrained={resolve_model(model)},dtype=float32,add_bos_token=True",
           "--tasks", "ttc_arith_maj8", "--include_path", str(tasks), "--device", "cpu", "--batch_size", "64",
           "--output_path", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    [result] = list(out.rglob("results_*.json"))
    return wall, json.loads(result.read_text())["results"]["ttc_arith_maj8"]["exact_match,maj@8"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-1m")
    ap.add_argument("--per-level", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    exe = ensure_venv()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    walls: dict[str, list[float]] = {"ttc": [], "lm-eval": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_task(tmp, args.per_level)
        for r in range(args.repeats):
            wall, row = run_ttc(tmp / f"ttc{r}", args.model, args.per_level, env)
            walls["ttc"].append(wall)
            wall, lm_acc = run_lm_eval(exe, tmp, tmp / f"lm{r}", args.model, env)
            walls["lm-eval"].append(wall)
    med = {k: statistics.median(v) for k, v in walls.items()}
    span = {k: f"{min(v):.1f}-{max(v):.1f}" for k, v in walls.items()}
    print(f"{args.model}, {5 * args.per_level} tiny-world problems, maj@8, {args.threads} torch thread(s), "
          f"median of {args.repeats}")
    print(f"ttc {med['ttc']:.1f} s ({span['ttc']}), lm-eval {med['lm-eval']:.1f} s ({span['lm-eval']}): "
          f"ttc / lm-eval = {med['ttc'] / med['lm-eval']:.2f}")
    print(f"accuracy: ttc {float(row['accuracy']):.3f} [{float(row['ci_low']):.3f}, {float(row['ci_high']):.3f}], "
          f"lm-eval {lm_acc:.3f}")


if __name__ == "__main__":
    main()
