"""Speculative decoding's wall-time speedup and acceptance rate against the target decoding alone, in one run.

    python bench/bench_speculative.py [--target tiny-4m] [--draft tiny-0.3m] [--k 4] [--problems 12]
                                      [--rows 1,16] [--repeats 3] [--threads 1]

For each batch size (prompts per generate call), the target's own HF generator and the speculative one decode the
same tiny-world prompts greedily (the same texts: checked), alternating, median of `repeats` (min-max printed).
Prints wall times, speedup = target / speculative, the acceptance rate (accepted / drafted tokens), tokens
committed per target forward, and the FLOPs ratio (speculation computes more, hoping to wait less).
torch threads are set explicitly (--threads): on a shared 2-core box the default can slow a run 10x.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ttc.contracts.records import SamplingParams
from ttc.generators.speculative import SpeculativeGenerator
from ttc.tasks.arith import make_problem, prompt


def timed(gen, prompts: list[str], params: SamplingParams, rows: int) -> tuple[float, list]:
    """Wall seconds and completions of greedy decoding, `rows` prompts per call."""
    t0, out = time.perf_counter(), []
    for s in range(0, len(prompts), rows):
        out += [r[0] for r in gen.generate(prompts[s:s + rows], params, [[0]] * len(prompts[s:s + rows]))]
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="tiny-4m")
    ap.add_argument("--draft", default="tiny-0.3m")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--problems", type=int, default=12)
    ap.add_argument("--rows", default="1,16", help="prompts per generate call, comma-separated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sd = SpeculativeGenerator(args.target, args.draft, k=args.k)
    prompts = [prompt(make_problem("test", 2 + i % 4, i)) for i in range(args.problems)]
    params = SamplingParams(temperature=0.0, max_tokens=200)
    timed(sd, prompts[:2], params, 2)  # warm-up
    print(f"target {sd.target.name}, draft {sd.draft.name}, k={args.k}, {args.problems} prompts, greedy, "
          f"{args.threads} torch thread(s), median of {args.repeats}")
    for rows in (int(r) for r in args.rows.split(",")):
        walls: dict[str, list[float]] = {"target": [], "speculative": []}
        for _ in range(args.repeats):
            t_wall, t_out = timed(sd.target, prompts, params, rows)
            s_wall, s_out = timed(sd, prompts, params, rows)
            walls["target"].append(t_wall)
            walls["speculative"].append(s_wall)
        same = sum(a.text == b.text for a, b in zip(t_out, s_out))
        drafted, accepted = sum(c.drafted_tokens for c in s_out), sum(c.accepted_tokens for c in s_out)
        forwards = sum(c.target_forwards for c in s_out)
        med = {k: statistics.median(v) for k, v in walls.items()}
        span = {k: f"{min(v):.2f}-{max(v):.2f}" for k, v in walls.items()}
        print(f"rows={rows:>3}: target {med['target']:.2f} s ({span['target']}), speculative {med['speculative']:.2f} s "
              f"({span['speculative']}), speedup {med['target'] / med['speculative']:.2f}x; acceptance "
              f"{accepted / drafted:.3f}, {sum(c.generated_tokens for c in s_out) / forwards:.2f} tokens per target "
              f"forward; FLOPs x{sum(c.flops for c in s_out) / sum(c.flops for c in t_out):.2f}; "
              f"same text {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
