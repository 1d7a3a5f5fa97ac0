"""Best-of-N generation through ttc's HF generator vs a bare `model.generate` loop, in one process.

    python bench/bench_generate.py [--model tiny-1m] [--problems 20] [--n 16] [--repeats 3]

Both sides sample n completions for the same arith prompts with the same settings; the bare loop calls
`model.generate(num_return_sequences=n)` per batch of prompts and is asked for exactly as many new
tokens as ttc produced for that batch (so both produce the same token count). Runs alternate to share
the machine's noise; the script prints tokens/s of each and the wall-time ratio ttc / bare (target <= 1.10).
"""

from __future__ import annotations

import argparse
import time

import torch

from ttc.generators.hf import HFGenerator  # noqa: E402
from ttc.contracts.records import SamplingParams  # noqa: E402
from ttc.contracts.rules import sample_seed  # noqa: E402
from ttc.tasks.arith import make_problem, prompt  # noqa: E402


def run_ttc(gen: HFGenerator, prompts: list[str], params: SamplingParams, n: int, batch: int) -> tuple[float, list[int]]:
    t0, per_batch = time.perf_counter(), []
    for s in range(0, len(prompts), batch):
        chunk = prompts[s:s + batch]
        seeds = [[sample_seed(0, p, i) for i in range(n)] for p in chunk]
        out = gen.generate(chunk, params, seeds)
        per_batch.append(sum(c.generated_tokens for row in out for c in row))
    return time.perf_counter() - t0, per_batch


def run_bare(gen: HFGenerator, prompts: list[str], params: SamplingParams, n: int, batch: int,
             targets: list[int]) -> tuple[float, int]:
    """Bare HF sampling, stopping each batch once it has produced the token count ttc produced."""
    tok, total, t0 = gen.tokenizer, 0, time.perf_counter()
    tok.padding_side = "left"
    for b, s in enumerate(range(0, len(prompts), batch)):
        enc = tok(prompts[s:s + batch], return_tensors="pt", padding=True)
        produced, rounds = 0, 0
        while produced < targets[b] and rounds < 4:
            out = gen.model.generate(**enc, do_sample=True, temperature=params.temperature, top_k=0,
                                     max_new_tokens=params.max_tokens, num_return_sequences=n,
                                     pad_token_id=gen.pad, eos_token_id=gen.eos)
            new = out[:, enc.input_ids.shape[1]:]
            lengths = ((new != gen.pad) & (new != gen.eos)).sum(-1) + (new == gen.eos).any(-1).long()
            produced += int(lengths.sum())
            rounds += 1
        total += produced
    return time.perf_counter() - t0, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-1m")
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--batch", type=int, default=10, help="prompts per call")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = HFGenerator(args.model)
    prompts = [prompt(make_problem("test", 1 + i % 5, i)) for i in range(args.problems)]
    params = SamplingParams(temperature=0.8, max_tokens=160)
    run_ttc(gen, prompts[:2], params, 2, 2)  # warm-up
    t_ttc, t_bare, n_ttc, n_bare = 0.0, 0.0, 0, 0
    for _ in range(args.repeats):
        dt, per_batch = run_ttc(gen, prompts, params, args.n, args.batch)
        t_ttc, n_ttc = t_ttc + dt, n_ttc + sum(per_batch)
        dt, produced = run_bare(gen, prompts, params, args.n, args.batch, per_batch)
        t_bare, n_bare = t_bare + dt, n_bare + produced
    print(f"model {args.model}, {args.problems} prompts x {args.n} samples, {args.repeats} alternating repeats")
    print(f"ttc : {n_ttc} tokens in {t_ttc:.2f}s = {n_ttc / t_ttc:.0f} tok/s")
    print(f"bare: {n_bare} tokens in {t_bare:.2f}s = {n_bare / t_bare:.0f} tok/s  (model.generate)")
    ratio = (t_ttc / n_ttc) / (t_bare / n_bare)
    print(f"wall time per token, ttc / bare = {ratio:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
