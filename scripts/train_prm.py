"""Train the tiny process/outcome reward model of the arithmetic world from rollouts, and measure it.

    python scripts/train_prm.py                      # into models/tiny-prm (about 17 minutes on 2 cores, 120 problems per level)
    python scripts/train_prm.py --per-level 20 --out /tmp/prm   # quick

1. The policy (tiny-0.3m) samples `--samples` solutions to each *train* problem of levels 1-5.
2. Labels come from rollouts, as in Math-Shepherd: step k of a solution is good if any of `--rollouts`
   continuations sampled from its first k steps reaches the right answer (a right solution's own
   continuation counts as one); the whole solution is good if its answer is right. The gold answer is used
   here, at training time only; at inference the PRM sees the problem and the solution, nothing else.
3. A copy of tiny-1m (which knows the `Check k:` / `Check:` formats from its corpus) is fine-tuned on those
   labels, loss on the verdict token only.
4. Quality on held-out *test* problems (fresh samples of the policy): AUROC of final-solution scores against
   correctness (ORM `Check:`, PRM last step, PRM min step), and ProcessBench-style F1 of locating the first
   wrong step (first step with P(yes) < 0.5) against the world's exact step check; the untuned tiny-1m judged
   the same way is the baseline. Written to `quality.json` beside the weights.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from ttc.generators.hf import HFGenerator  # noqa: E402
from ttc.generators.models import resolve_model  # noqa: E402
from ttc.contracts.records import SamplingParams  # noqa: E402
from ttc.tasks import arith  # noqa: E402
from ttc.verifiers.self_critique import SelfCritiqueVerifier  # noqa: E402

LEVELS = (1, 2, 3, 4, 5)
STEP_PARAMS = SamplingParams(temperature=0.8, max_tokens=200)


def sample(policy: HFGenerator, problems: list, n: int, seed: int) -> list[list[str]]:
    prompts = [arith.prompt(p) for p in problems]
    seeds = [[seed * 7919 + i * 31 + j for j in range(n)] for i in range(len(problems))]
    return [[c.text for c in row] for row in policy.generate(prompts, STEP_PARAMS, seeds)]


def step_prefixes(text: str) -> list[str]:
    """The solution's text up to and including each numbered step line."""
    lines, out = text.split("\n"), []
    for j, line in enumerate(lines):
        if line[:1].isdigit() and ". " in line[:4]:
            out.append("\n".join(lines[:j + 1]) + "\n")
    return out


def label(policy: HFGenerator, problems: list, solutions: list[list[str]], rollouts: int, seed: int) -> list[dict]:
    """Examples: (prompt, shown text, query, good) for every step prefix and every whole solution."""
    examples, asks = [], []
    for p, sols in zip(problems, solutions):
        for text in sols:
            right = arith.grade(arith.extract_answer(text), str(p.answer))
            examples.append({"prompt": arith.prompt(p), "shown": text, "query": "Check:", "good": right})
            for k, prefix in enumerate(step_prefixes(text), 1):
                ex = {"prompt": arith.prompt(p), "shown": prefix, "query": f"Check {k}:", "good": right}
                examples.append(ex)
                if not right:
                    asks.append((ex, p))
    prompts = [ex["prompt"] + ex["shown"] for ex, _ in asks]
    seeds = [[seed * 104729 + i * rollouts + r for r in range(rollouts)] for i in range(len(asks))]
    for start in range(0, len(prompts), 256):
        outs = policy.generate(prompts[start:start + 256], STEP_PARAMS, seeds[start:start + 256])
        for (ex, p), row in zip(asks[start:start + 256], outs):
            ex["good"] = any(arith.grade(arith.extract_answer(ex["shown"] + c.text), str(p.answer)) for c in row)
    return examples


def finetune(base: Path, out: Path, examples: list[dict], epochs: int, lr: float, seed: int) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.train()
    data = []
    for ex in examples:
        ids = tok(ex["prompt"] + ex["shown"] + ex["query"]).input_ids
        verdict = tok(" yes" if ex["good"] else " no", add_special_tokens=False).input_ids
        data.append((ids + verdict, len(ids)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng, seen, step = random.Random(seed), 0, 0
    for epoch in range(epochs):
        rng.shuffle(data)
        for start in range(0, len(data), 16):
            group = data[start:start + 16]
            width = max(len(x) for x, _ in group)
            ids = torch.tensor([x + [0] * (width - len(x)) for x, _ in group])
            labels = torch.full_like(ids, -100)
            for r, (x, n) in enumerate(group):
                labels[r, n:len(x)] = ids[r, n:len(x)]
            loss = model(input_ids=ids, attention_mask=(ids != 0).long(), labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            seen += int((ids != 0).sum())
            step += 1
            if step % 50 == 0:
                print(f"[prm] epoch {epoch} step {step} loss {loss.item():.3f}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return seen


def auroc(scores: list[float], labels: list[bool]) -> float:
    """P(score of a right solution > score of a wrong one), ties counted half (Mann-Whitney)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _within(scores: list[float], labels: list[bool], levels: list[int]) -> float:
    """Mean AUROC over levels that have both right and wrong solutions: ranking power beyond difficulty."""
    vals = [auroc([s for s, l in zip(scores, levels) if l == v], [y for y, l in zip(labels, levels) if l == v])
            for v in sorted(set(levels))]
    vals = [v for v in vals if v == v]
    return round(sum(vals) / len(vals), 4) if vals else float("nan")


def quality(judge_path: Path, policy: HFGenerator, per_level: int, seed: int) -> dict:
    problems = [arith.make_problem("test", lv, i) for lv in LEVELS for i in range(per_level)]
    sols = sample(policy, problems, 4, seed + 1)
    judge = HFGenerator(str(judge_path))
    prompts = [arith.prompt(p) for p in problems]
    orm = SelfCritiqueVerifier(judge).verify(prompts, sols)
    prm = SelfCritiqueVerifier(judge, steps=True, aggregate="last").verify(prompts, sols)
    right, last, low, whole, lv, hits_err, hits_ok, n_err, n_ok = [], [], [], [], [], 0, 0, 0, 0
    for p, texts, ov, pv in zip(problems, sols, orm, prm):
        for text, o, v in zip(texts, ov, pv):
            right.append(arith.grade(arith.extract_answer(text), str(p.answer)))
            lv.append(p.level)
            whole.append(o.score)
            steps = list(v.step_scores or [v.score])
            last.append(steps[-1])
            low.append(min(steps))
            truth = arith.first_wrong_step(p, text)
            guess = next((k for k, s in enumerate(steps, 1) if s < 0.5), None)
            if truth is None:
                n_ok += 1
                hits_ok += guess is None
            else:
                n_err += 1
                hits_err += guess == truth
    acc_err, acc_ok = hits_err / max(n_err, 1), hits_ok / max(n_ok, 1)
    f1 = 2 * acc_err * acc_ok / (acc_err + acc_ok) if acc_err + acc_ok else 0.0
    return {"judge": judge_path.name, "solutions": len(right), "right_share": round(sum(right) / len(right), 4),
            "auroc_orm": round(auroc(whole, right), 4), "auroc_prm_last": round(auroc(last, right), 4),
            "auroc_prm_min": round(auroc(low, right), 4),
            "auroc_orm_within_level": _within(whole, right, lv), "auroc_prm_last_within_level": _within(last, right, lv),
            "processbench_error_acc": round(acc_err, 4),
            "processbench_correct_acc": round(acc_ok, 4), "processbench_f1": round(f1, 4),
            "erroneous": n_err, "correct_steps_only": n_ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-level", type=int, default=120, help="train problems per level")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--eval-per-level", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "tiny-prm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    policy = HFGenerator("tiny-0.3m")
    problems = [arith.make_problem("train", lv, i) for lv in LEVELS for i in range(args.per_level)]
    examples = label(policy, problems, sample(policy, problems, args.samples, args.seed), args.rollouts, args.seed)
    good = sum(e["good"] for e in examples)
    print(f"[prm] {len(examples)} labelled examples ({good} good) in {time.time() - t0:.0f}s", flush=True)
    base = resolve_model("tiny-1m")
    seen = finetune(base, args.out, examples, args.epochs, args.lr, args.seed)
    card = json.loads((base / "card.json").read_text())
    card.update({"name": "tiny-prm", "base": "tiny-1m", "finetune_tokens": seen,
                 "training_tokens": card["training_tokens"] + seen,
                 "training_flops": 6 * card["non_embedding_parameters"] * (card["training_tokens"] + seen),
                 "labels": f"Math-Shepherd hard estimate, {args.rollouts} rollouts of tiny-0.3m per step",
                 "examples": len(examples), "good_examples": good, "train_problems_per_level": args.per_level,
                 "seed": args.seed, "training_seconds": round(time.time() - t0, 1)})
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    report = {"tiny-prm": quality(args.out, policy, args.eval_per_level, args.seed),
              "tiny-1m (untuned judge)": quality(base, policy, args.eval_per_level, args.seed)}
    (args.out / "quality.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
