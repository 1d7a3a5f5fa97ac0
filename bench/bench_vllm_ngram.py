"""vLLM's n-gram prompt-lookup speculation on the real model: wall time and acceptance against the plain engine.

    python bench/bench_vllm_ngram.py [--problems 20] [--k 3] [--repeats 3] [--data ../shared/data]

SmolLM2-135M-Instruct (the packaged model, ttc/generators/packaged.py) on GSM8K chat prompts, greedy, 256 new tokens:
one plain engine and one with speculative_config={method: ngram, num_speculative_tokens: k}, both started first
(engine start is not timed), then the same generate call alternating, median of `repeats` (min-max). Prints the
speedup (plain / speculative wall), the acceptance rate (accepted / drafted tokens, from the engine's
per-request metrics), the share of committed tokens that came from the lookup and the share of identical texts. On a GPU the
engine's own speedup is the point; on this CPU it says what the lookup costs and saves here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ttc.contracts.records import SamplingParams
from ttc.generators import packaged
from ttc.generators.vllm_gen import VLLMGenerator, shutdown_engines
from ttc.tasks.gsm8k import GSM8KTask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()
    directory = str(packaged.packaged_model("smollm2-135m"))
    task = GSM8KTask(path=f"{args.data}/gsm8k/test.jsonl", mode="chat", chat_tokenizer=directory, limit=args.problems)
    prompts = [p.prompt for p in task.problems()]
    settings = dict(dtype="float32", gpu_memory_utilization=0.2, max_model_len=2048, max_num_seqs=64, block_size=32)
    plain = VLLMGenerator("smollm2-135m", **settings)
    spec = VLLMGenerator("smollm2-135m", **settings,
                         speculative_config={"method": "ngram", "num_speculative_tokens": args.k})
    params = SamplingParams(temperature=0.0, max_tokens=256)
    walls: dict[str, list[float]] = {"plain": [], "ngram": []}
    for _ in range(args.repeats):
        for name, gen in (("plain", plain), ("ngram", spec)):
            t0 = time.perf_counter()
            out = [r[0] for r in gen.generate(prompts, params, [[0]] * len(prompts))]
            walls[name].append(time.perf_counter() - t0)
            if name == "plain":
                base = out
            else:
                fast = out
    shutdown_engines()
    drafted, accepted = sum(c.drafted_tokens for c in fast), sum(c.accepted_tokens for c in fast)
    generated = sum(c.generated_tokens for c in fast)
    med = {k: statistics.median(v) for k, v in walls.items()}
    span = {k: f"{min(v):.1f}-{max(v):.1f}" for k, v in walls.items()}
    print(f"SmolLM2-135M on vLLM, {len(prompts)} GSM8K chat prompts, greedy, k={args.k}, median of {args.repeats}")
    print(f"plain {med['plain']:.1f} s ({span['plain']}), ngram {med['ngram']:.1f} s ({span['ngram']}): speedup "
          f"{med['plain'] / med['ngram']:.2f}x; acceptance {accepted / max(drafted, 1):.3f} ({accepted}/{drafted}), "
          f"{accepted / max(generated, 1):.1%} of the {generated} tokens came from the lookup; same text "
          f"{sum(a.text == b.text for a, b in zip(base, fast))}/{len(prompts)}")


if __name__ == "__main__":
    main()
