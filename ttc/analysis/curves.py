"""Accuracy-vs-compute curves from a run's sample lines, with paired bootstrap intervals over problems.

A pooled run (N seeded samples per problem) yields every series of the selections table
(ttc.contracts.selections) at every budget k <= N through its estimator (ttc.analysis.pooled); revision chains
yield every shorter chain length; a fixed-budget run (greedy, beam search) yields one point at its budget. Compute
at budget k is what k samples would have cost with this backend: the prompt once (later samples hit the
shared prefix cache), k times the mean generation cost, and k verifier calls when the rule uses them.
Reads sample lines (ttc.contracts.samples.SampleLine); knows nothing about models or configs.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ttc.analysis.intervals import mean_interval
from ttc.analysis.pooled import pooled_series
from ttc.contracts.rules import choose_attempt
from ttc.contracts.samples import SampleLine, legacy_curve
from ttc.contracts.selections import MEASURES, POOL_STRATEGY
from ttc.contracts.vocab import Span

# One row per model x series x budget x level. A series is one curve: (strategy, selection, verifier) named
# with a machine-friendly label; `strategy` is the strategy that drew the candidates (a pool of samples is
# `best_of_n` whatever rule reads it), `selection` the rule that picks the answer, `level` a difficulty or "all".
COLUMNS = ["model", "series", "strategy", "selection", "verifier", "budget", "budget_unit", "level", "n_problems",
           "accuracy", "ci_low", "ci_high", "estimator", "mc_se", "gen_tokens_per_problem",
           "thinking_tokens_per_problem", "flops_per_problem", "kv_bytes_per_problem", "weight_bytes_per_problem",
           "dollars_per_problem", "pretrain_flops"]
METRICS = MEASURES  # selections that read the grades: measures, never arms (ttc.contracts.selections)
__all__ = ["COLUMNS", "METRICS", "POOL_STRATEGY", "budgets", "per_problem", "problem_records", "series_label",
           "summarize"]


def budgets(n: int) -> list[int]:
    """Powers of two up to n, and n itself."""
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    return out + [n]


def _span(span: Span, n: int) -> list[int]:
    """The budgets a pooled series is read at: every k of `budgets`, k = 1 only, or every k but 1."""
    if span == "first":
        return [1]
    return [k for k in budgets(n) if span == "every" or k != 1]


class _Cost:
    """What budget k of a pool costs (generated tokens, FLOPs): the prompt once, k times the mean generation and,
    where the rule uses the verifier, k mean verifier calls; the pool's sums taken once."""

    def __init__(self, pool: list[SampleLine]) -> None:
        self.n = len(pool)
        self.prompt = sum(c["prompt_flops"] for c in pool)
        self.gen = sum(c["flops"] - c["prompt_flops"] for c in pool) / self.n
        self.ver = sum(c["verifier_flops"] for c in pool) / self.n
        self.tokens = sum(c["generated_tokens"] for c in pool)
        self.kv = sum(c.get("kv_bytes", 0.0) for c in pool) / self.n
        self.weights = sum(c.get("weight_bytes", 0.0) for c in pool) / self.n
        self.dollars = priced(pool)
        self.wall = float((pool[0].get("ledger") or {}).get("wall_s", 0.0))  # the problem's measured seconds

    def at(self, k: int, uses_verifier: bool) -> tuple[float, float]:
        """(generated tokens, FLOPs) of budget k."""
        return k * self.tokens / self.n, self.prompt + k * (self.gen + (self.ver if uses_verifier else 0.0))

    def bytes_at(self, k: int) -> tuple[float, float]:
        """(KV bytes, weight bytes) k samples read: each reads its own cache and pays its own share of the
        forwards' weights at the run's batch width, so k times the mean of each."""
        return k * self.kv, k * self.weights

    def dollars_at(self, k: int) -> float | None:
        """What k samples would have been charged (each request pays its prompt: k times the mean); None unpriced."""
        return None if self.dollars is None else k * self.dollars / self.n


def per_problem(lines: list[SampleLine]) -> list[dict]:
    """One record per (problem, strategy rule, budget) of sample lines in any order (`problem_records` of each
    problem's lines)."""
    pools: dict[str, list[SampleLine]] = defaultdict(list)
    for line in lines:
        pools[line["problem_id"]].append(line)
    return [r for pool in pools.values() for r in problem_records(sorted(pool, key=lambda c: c["candidate"]))]


def problem_records(pool: list[SampleLine]) -> list[dict]:
    """One problem's records (accuracy, its MC error, tokens and FLOPs per strategy rule and budget), from its
    lines sorted by candidate."""
    head = pool[0]
    base = {"problem_id": head["problem_id"], "difficulty": head["difficulty"], "model": head.get("generator", ""),
            "curve": head.get("curve") or legacy_curve(head)}
    if base["curve"] == "pooled":
        return _pooled_records(pool, base)
    if base["curve"] == "chains":
        return _chain_records(pool, base)
    return [_fixed_record(pool, base)]


def _pooled_records(pool: list[SampleLine], base: dict) -> list[dict]:
    """Every series of the selections table the pool gives, at every budget it is read at."""
    head, out, cost = pool[0], [], _Cost(pool)
    for rule, vname, rate in pooled_series(pool, head["run_seed"]):
        for k in _span(rule.span, len(pool)):
            acc, se = rate(k)
            toks, flops = cost.at(k, rule.charged(head.get("verifier", "none")))
            out.append({**base, "series": rule.series, "strategy": POOL_STRATEGY, "selection": rule.selection,
                        "verifier": vname, "budget": k, "budget_unit": "samples",
                        "accuracy": acc, "mc_se": se, "gen_tokens": toks, "flops": flops,
                        **dict(zip(("kv_bytes", "weight_bytes"), cost.bytes_at(k))),
                        "dollars": cost.dollars_at(k), "seconds": cost.wall * k / cost.n})
    return out


def _fixed_record(pool: list[SampleLine], base: dict) -> dict:
    """A fixed-budget run's one point: its selected candidate at its own budget, at what it spent."""
    head = pool[0]
    ledger = head["ledger"]
    chosen = next(c for c in pool if c["selected"])
    return {**base, **_named(head, head.get("selection") or "own"), "verifier": _verifier(head),
            "budget": head["budget"], "budget_unit": head["budget_unit"], "accuracy": float(chosen["correct"]),
            "mc_se": 0.0, "gen_tokens": ledger["generated_tokens"], "thinking_tokens": _thinking(pool),
            "flops": ledger["generator_flops"] + ledger["verifier_flops"], "kv_bytes": ledger.get("kv_bytes", 0.0),
            "weight_bytes": ledger.get("weight_bytes", 0.0),
            "dollars": None if priced(pool) is None else ledger.get("dollars", 0.0), "seconds": ledger.get("wall_s", 0.0)}


def _verifier(head: SampleLine) -> str:
    """A run's own curve's verifier label: its verifier where it scored the candidates, else none."""
    return head.get("verifier", "none") if head["verifier_score"] is not None else "none"


def _named(head: SampleLine, selection: str) -> dict:
    """A run's own curve: series and strategy are the run's strategy name; selection its rule."""
    return {"series": head["strategy"], "strategy": head["strategy"], "selection": selection}


def _thinking(pool: list[SampleLine]) -> float | None:
    """Mean thinking tokens per candidate where the strategy recorded them (budget forcing)."""
    counts = [(c.get("info") or {}).get("thinking_tokens") for c in pool]
    return None if None in counts else sum(counts) / len(counts)


def _chain_records(pool: list[SampleLine], base: dict) -> list[dict]:
    """Revision chains: the first l attempts of every chain are exactly what a run with chains of length l
    would have made (attempt seeds depend on chain and attempt only), so every budget P*l is read off one run."""
    head, chains = pool[0], sorted({c["info"]["chain"] for c in pool})
    length = head["budget"] // len(chains)
    out = []
    for l in budgets(length):
        subset = [c for c in pool if c["info"]["attempt"] < l]
        lasts = [max(i for i, c in enumerate(subset) if c["info"]["chain"] == ch) for ch in chains]
        scores = [c["verifier_score"] or 0.0 for c in subset]
        won = choose_attempt(head["info"]["selection"], [c["answer"] for c in subset], scores, lasts,
                             head["run_seed"], head["problem_id"])
        out.append({**base, **_named(head, head["info"]["selection"]), "verifier": _verifier(head),
                    "budget": len(chains) * l, "budget_unit": head["budget_unit"],
                    "accuracy": float(subset[won]["correct"]), "mc_se": 0.0,
                    "gen_tokens": sum(c["generated_tokens"] for c in subset),
                    "flops": sum(c["flops"] + c["verifier_flops"] for c in subset),
                    "kv_bytes": sum(c.get("kv_bytes", 0.0) for c in subset),
                    "weight_bytes": sum(c.get("weight_bytes", 0.0) for c in subset), "dollars": priced(subset),
                    "seconds": (head.get("ledger") or {}).get("wall_s", 0.0) * len(subset) / len(pool)})
    return out


def series_label(r: dict) -> str:
    """One curve's name (in tables and legends): model, series and (if any) verifier."""
    extra = f" [{r['verifier']}]" if r["verifier"] not in ("none", "") else ""
    return f"{r['model']} {r['series']}{extra}"


def summarize(records: list[dict], pretrain_flops: float | None = None, seed: int = 0) -> list[dict]:
    """curves.csv rows: per (model, series, budget) and level ("all" and each difficulty), with paired 95%
    BCa intervals over problems (ttc.analysis.intervals: the same resampled problems for every row)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        for level in ("all", r["difficulty"]):
            if level is None:
                continue
            groups[(r["model"], r["series"], r["strategy"], r["selection"], r["verifier"], r["budget"],
                    r["budget_unit"], str(level))].append(r)
    rows = []
    for key, rs in sorted(groups.items(), key=_order):
        model, series, strategy, selection, verifier, budget, unit, level = key
        rs = sorted(rs, key=lambda r: r["problem_id"])  # aligned: rows over the same problems resample alike
        acc = np.array([r["accuracy"] for r in rs])
        low, high = mean_interval(acc, seed)
        se = float(np.sqrt(sum(r["mc_se"] ** 2 for r in rs)) / len(rs))
        rows.append({
            "model": model, "series": series, "strategy": strategy, "selection": selection, "verifier": verifier,
            "budget": budget, "budget_unit": unit, "level": level, "n_problems": len(rs),
            "accuracy": round(float(acc.mean()), 6), "ci_low": round(low, 6), "ci_high": round(high, 6),
            "estimator": "resampled" if se > 0 else "exact", "mc_se": round(se, 6),
            "gen_tokens_per_problem": round(float(np.mean([r["gen_tokens"] for r in rs])), 3),
            "thinking_tokens_per_problem": _mean_or_none([r.get("thinking_tokens") for r in rs]),
            "flops_per_problem": float(f"{np.mean([r['flops'] for r in rs]):.6g}"),
            "kv_bytes_per_problem": float(f"{np.mean([r.get('kv_bytes', 0.0) for r in rs]):.6g}"),
            "weight_bytes_per_problem": float(f"{np.mean([r.get('weight_bytes', 0.0) for r in rs]):.6g}"),
            "dollars_per_problem": _mean_or_none([r.get("dollars") for r in rs], 8),
            "pretrain_flops": pretrain_flops,
        })
    return rows


def _mean_or_none(values: list, digits: int = 3) -> float | None:
    return None if not values or None in values else round(float(np.mean(values)), digits)


def priced(lines: list[SampleLine]) -> float | None:
    """The lines' dollars together; None when any is unpriced (or was written before dollars were recorded)."""
    values = [c.get("dollars") for c in lines]
    return None if None in values else float(sum(values))


def _order(item) -> tuple:
    (model, series, strategy, selection, verifier, budget, unit, level), _ = item
    return (series, verifier, model, unit, budget, level != "all", level)
