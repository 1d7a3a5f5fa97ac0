"""Train the tiny Llama family on the arithmetic world's corpus, from scratch, on CPU.

    python scripts/train_tiny.py                 # all sizes, into models/
    python scripts/train_tiny.py --sizes 1m --tokens 2e6 --out /tmp/models   # one size, quick

Each size is trained on a fixed token budget (so the result does not depend on machine speed), saved
as half-precision safetensors with a char-level fast tokenizer and a `card.json` holding what the FLOPs
ledger needs. Torch uses as many threads as the machine has cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from ttc.tasks.arith import THINK_CLOSE, THINK_OPEN  # noqa: E402
from ttc.tasks.arith_corpus import CORPUS_VERSION, example  # noqa: E402

CONTEXT = 512
SIZES = {  # name: (hidden, layers, heads, intermediate, lr, batch, training tokens)
    "0.3m": (64, 6, 4, 176, 3e-3, 32, 15_000_000),  # two plans to learn (arith-corpus-v3): 10M left L3 greedy at 0.52
    "1m": (128, 5, 4, 352, 2e-3, 16, 8_000_000),  # 5M tokens left it below tiny-0.3m (L3 greedy 0.21; 8M: 0.57)
    "4m": (256, 5, 8, 704, 2e-3, 16, 10_000_000),  # batch 16; 7M tokens left level-1 greedy at 0.73, 10M: 1.00
}
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Char-level tokenizer over printable ASCII and newline, with single tokens for the think delimiters."""
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(SPECIALS + [THINK_OPEN, THINK_CLOSE] + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(t, special=True) for t in SPECIALS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in (THINK_OPEN, THINK_CLOSE)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def model_config(size: str, vocab: int) -> LlamaConfig:
    hidden, layers, heads, inter = SIZES[size][:4]
    return LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=heads, intermediate_size=inter, max_position_embeddings=CONTEXT,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def encode(tokenizer: PreTrainedTokenizerFast, index: int, seed: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 where the text is input, not output) of one corpus example."""
    segs = example(index, seed)
    pieces = tokenizer([s for s, _ in segs], add_special_tokens=False).input_ids
    ids, labels = [tokenizer.bos_token_id], [-100]
    for (_, trainable), piece in zip(segs, pieces):
        ids += piece
        labels += piece if trainable else [-100] * len(piece)
    ids.append(tokenizer.eos_token_id)
    labels.append(tokenizer.eos_token_id)
    return ids[:CONTEXT], labels[:CONTEXT]


def batches(tokenizer: PreTrainedTokenizerFast, batch: int, seed: int, start: int = 0):
    """Endless padded batches; examples are grouped by length in pools of 16 batches to save padding."""
    index, rng = start, random.Random(seed)
    while True:
        pool = [encode(tokenizer, index + i, seed) for i in range(16 * batch)]
        index += len(pool)
        pool.sort(key=lambda e: len(e[0]))
        groups = [pool[i : i + batch] for i in range(0, len(pool), batch)]
        rng.shuffle(groups)
        for group in groups:
            width = max(len(ids) for ids, _ in group)
            ids = torch.tensor([i + [0] * (width - len(i)) for i, _ in group])
            labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in group])
            yield ids, labels, (ids != 0).long()


def non_embedding_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n and "lm_head" not in n)


def train(size: str, out: Path, tokens: int | None, seed: int) -> dict:
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    model = LlamaForCausalLM(model_config(size, len(tokenizer)))
    lr, batch, budget = SIZES[size][4], SIZES[size][5], int(tokens or SIZES[size][6])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup, seen, step, t0 = 200, 0, 0, time.time()
    est_steps = max(budget // (batch * 170), warmup + 1)
    for ids, labels, mask in batches(tokenizer, batch, seed):
        frac = min(1.0, seen / budget)
        scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        # fp32 on purpose: on CPU, bf16 autocast made these tiny models 3-5x slower per step.
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += int(mask.sum())
        step += 1
        if step % 50 == 0:
            rate = seen / (time.time() - t0)
            print(f"[{size}] step {step}/~{est_steps} tokens {seen}/{budget} loss {loss.item():.3f} "
                  f"{rate:.0f} tok/s", flush=True)
        if seen >= budget:
            break
    seconds = time.time() - t0
    return save(model, tokenizer, out / f"tiny-{size}", size, seen, seconds, seed)


def save(model, tokenizer, path: Path, size: str, seen: int, seconds: float, seed: int) -> dict:
    path.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    cfg = model.config
    n = non_embedding_params(model)
    card = {
        "name": f"tiny-{size}", "parameters": sum(p.numel() for p in model.parameters()),
        "non_embedding_parameters": n, "layers": cfg.num_hidden_layers, "hidden_size": cfg.hidden_size,
        "context": cfg.max_position_embeddings, "vocab_size": cfg.vocab_size, "training_tokens": seen,
        "training_flops": 6 * n * seen, "training_seconds": round(seconds, 1), "torch_threads":
        torch.get_num_threads(), "seed": seed, "corpus_version": CORPUS_VERSION,
    }
    (path / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card), flush=True)
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--tokens", type=float, default=None, help="override each size's token budget")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads (default: every core; 1 to train sizes side by side)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in args.sizes:
        train(size, args.out, args.tokens, args.seed)


if __name__ == "__main__":
    main()
