"""Accuracy-vs-compute curves from a run's sample lines, with paired bootstrap intervals over problems.

A pooled run (N seeded samples per problem) yields every selection rule at every budget k <= N through
the exact estimators; a fixed-budget run (greedy, beam search) yields one point at its budget. Compute
at budget k is what k samples would have cost with this backend: the prompt once (later samples hit the
shared prefix cache), k times the mean generation cost, and k verifier calls when the rule uses them.
Reads plain dicts (the JSONL lines); knows nothing about models or configs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np

from ttc.analysis import estimators as est
from ttc.analysis.intervals import mean_interval
from ttc.contracts.samples import legacy_curve
from ttc.contracts.clusters import submissions
from ttc.contracts.mbr import mbr_pick, utility_matrix
from ttc.contracts.rules import answer_key, candidate_key, choose_attempt, vote

# One row per model x series x budget x level. A series is one curve: (strategy, selection, verifier) named
# with a machine-friendly label; `strategy` is the strategy that drew the candidates (a pool of samples is
# `best_of_n` whatever rule reads it), `selection` the rule that picks the answer, `level` a difficulty or "all".
COLUMNS = ["model", "series", "strategy", "selection", "verifier", "budget", "budget_unit", "level", "n_problems",
           "accuracy", "ci_low", "ci_high", "estimator", "mc_se", "gen_tokens_per_problem",
           "thinking_tokens_per_problem", "flops_per_problem", "pretrain_flops"]
ORACLE = "oracle_pass_at_n"
G_PASS_TAUS = (0.5, 0.75, 1.0)  # G-Pass@k thresholds (Liu et al. 2024) beside pass@k
METRICS = ("oracle", "g_pass")  # selections that read the grades: measures, never arms
POOL_STRATEGY = "best_of_n"


def budgets(n: int) -> list[int]:
    """Powers of two up to n, and n itself."""
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    return out + [n]


def _pooled_rules(pool: list[dict], seed: int) -> dict[str, tuple[str, str, Callable[[int], tuple[float, float]]]]:
    """series label -> (selection, verifier label, k -> (expected accuracy, mc standard error))."""
    pid, n = pool[0]["problem_id"], len(pool)
    answers = [c["answer"] for c in pool]
    right_answers = {c["answer"] for c in pool if c["correct"]}
    right = [bool(c["correct"]) for c in pool]
    keys = [candidate_key(seed, pid, i) for i in range(n)]
    # a pool drawn with rejection sampling: every ranking rule puts answered candidates first, as the strategy did
    rejecting = any("rejected" in (c.get("info") or {}) for c in pool)

    def ranked(score: list[float], reject: bool = rejecting) -> list[bool]:
        order = sorted(range(n), key=lambda i: ((answers[i] is not None) if reject else 0, score[i], keys[i]),
                       reverse=True)
        return [right[i] for i in order]

    lp_sum = ranked([c["logprob"] for c in pool])
    lp_mean = ranked([c["logprob"] / max(c["generated_tokens"], 1) for c in pool])
    c_right = sum(right)
    rules = {
        ORACLE: ("oracle", "none", lambda k: (est.pass_at_k(n, c_right, k), 0.0)),
        "sample": ("first", "none", lambda k: (c_right / n, 0.0)),  # = avg@n: mean accuracy of the n samples
        "majority": ("majority", "none", lambda k: (est.majority_at_k(
            answers, right_answers.__contains__, lambda a: answer_key(seed, pid, a), k), 0.0)),
        "best_of_n_logprob": ("logprob_sum", "self-prob-sum", lambda k: (est.best_of_k(lp_sum, k), 0.0)),
        "best_of_n_logprob_mean": ("logprob_mean", "self-prob-mean", lambda k: (est.best_of_k(lp_mean, k), 0.0)),
    }
    rules.update(_mbr_rules(pool, answers, right, seed, pid, rejecting))
    rules.update(_cluster_rules(pool, right, seed, pid))
    for tau in G_PASS_TAUS:
        rules[f"g_pass_{tau:g}"] = ("g_pass", "none", lambda k, t=tau: (est.g_pass_at_k(n, c_right, k, t), 0.0))
    if pool[0].get("verifier", "none") != "none" and pool[0]["verifier_score"] is not None:
        vname, scores = pool[0]["verifier"], [c["verifier_score"] for c in pool]
        by_verifier = ranked(scores)

        def weighted(k: int) -> tuple[float, float]:
            def ok(subset) -> bool:
                won = vote([answers[i] for i in subset], [scores[i] for i in subset], seed, pid)
                return won in right_answers
            return est.subset_rate(ok, n, k, draws=2000, seed=int(answer_key(seed, pid, f"draws{k}") * 2**31))

        rules["best_of_n"] = ("verifier", vname, lambda k: (est.best_of_k(by_verifier, k), 0.0))
        if rejecting:  # the same verifier argmax without rejection, to compare
            unfiltered = ranked(scores, reject=False)
            rules["best_of_n_unfiltered"] = ("verifier_unfiltered", vname,
                                             lambda k: (est.best_of_k(unfiltered, k), 0.0))
        rules["weighted_vote"] = ("weighted_vote", vname, weighted)
    return rules


def _mbr_rules(pool: list[dict], answers: list, right: list[bool], seed: int, pid: str, rejecting: bool) -> dict:
    """Minimum Bayes risk at every budget, for a pool drawn with an MBR selection: exact over k-subsets when
    they are few, else seeded resampling with its standard error (as weighted vote). With rejection, each
    subset's answered members compete (all of them when none has an answer), as in the strategy."""
    selection = pool[0].get("selection") or ""
    if not selection.startswith("mbr_"):
        return {}
    behaviours = [(c.get("info") or {}).get("behaviour", "crash") for c in pool]
    u = utility_matrix([c["text"] for c in pool], answers, selection.removeprefix("mbr_"), behaviours)
    n = len(pool)

    def rate(k: int) -> tuple[float, float]:
        def pick(sub) -> bool:
            kept = [i for i in sub if answers[i] is not None or not rejecting] or list(sub)
            return right[mbr_pick(kept, u, answers, seed, pid)]
        return est.subset_rate(pick, n, k, draws=2000, seed=int(answer_key(seed, pid, f"mbr{k}") * 2**31))
    return {selection: (selection, "none", rate)}


def _cluster_rules(pool: list[dict], right: list[bool], seed: int, pid: str) -> dict:
    """AlphaCode's 1@k and 10@k for a pool drawn with selection=filter_cluster: over k-subsets of the pool, a
    success when any submission (ttc.contracts.clusters) is right; seeded resampling with its standard error."""
    if pool[0].get("selection") != "filter_cluster" or "behaviour" not in (pool[0].get("info") or {}):
        return {}
    passed = [bool(c["info"]["public_pass"]) for c in pool]
    behaviour = [c["info"]["behaviour"] for c in pool]
    keys = [candidate_key(seed, pid, i) for i in range(len(pool))]
    vname = pool[0].get("verifier", "none")

    def rate(m: int) -> Callable[[int], tuple[float, float]]:
        def hit(sub) -> bool:
            return any(right[i] for i in submissions(sorted(sub), passed, behaviour, keys, m))
        return lambda k: est.subset_rate(hit, len(pool), k, draws=1000,
                                         seed=int(answer_key(seed, pid, f"cluster{m}@{k}") * 2**31))
    return {"filter_cluster": ("filter_cluster", vname, rate(1)), "filter_cluster_10": ("filter_cluster_10", vname, rate(10))}


def _cost(pool: list[dict], k: int, uses_verifier: bool) -> tuple[float, float]:
    n = len(pool)
    prompt = sum(c["prompt_flops"] for c in pool)
    gen = sum(c["flops"] - c["prompt_flops"] for c in pool) / n
    ver = sum(c["verifier_flops"] for c in pool) / n if uses_verifier else 0.0
    return k * sum(c["generated_tokens"] for c in pool) / n, prompt + k * (gen + ver)


def per_problem(lines: list[dict]) -> list[dict]:
    """One record per (problem, strategy rule, budget): accuracy, its MC error, tokens and FLOPs."""
    pools: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        pools[line["problem_id"]].append(line)
    out = []
    for pid, pool in pools.items():
        pool.sort(key=lambda c: c["candidate"])
        head = pool[0]
        base = {"problem_id": pid, "difficulty": head["difficulty"], "model": head.get("generator", ""),
                "curve": head.get("curve") or legacy_curve(head)}
        if base["curve"] == "pooled":
            for rule, (selection, vname, fn) in _pooled_rules(pool, head["run_seed"]).items():
                for k in budgets(len(pool)) if rule != "sample" else [1]:
                    if selection == "g_pass" and k == 1:
                        continue  # G-Pass@1 is pass@1 at every tau
                    acc, se = fn(k)
                    toks, flops = _cost(pool, k, vname not in ("none", "self-prob-sum", "self-prob-mean"))
                    out.append({**base, "series": rule, "strategy": POOL_STRATEGY, "selection": selection,
                                "verifier": vname, "budget": k, "budget_unit": "samples",
                                "accuracy": acc, "mc_se": se, "gen_tokens": toks, "flops": flops})
        elif base["curve"] == "chains":
            out.extend(_chain_records(pool, base))
        else:
            ledger = head["ledger"]
            chosen = next(c for c in pool if c["selected"])
            out.append({**base, **_named(head, head.get("selection") or "own"),
                        "verifier": head.get("verifier", "none")
                        if head["verifier_score"] is not None else "none", "budget": head["budget"],
                        "budget_unit": head["budget_unit"], "accuracy": float(chosen["correct"]), "mc_se": 0.0,
                        "gen_tokens": ledger["generated_tokens"], "thinking_tokens": _thinking(pool),
                        "flops": ledger["generator_flops"] + ledger["verifier_flops"]})
    return out


def _named(head: dict, selection: str) -> dict:
    """A run's own curve: series and strategy are the run's strategy name; selection its rule."""
    return {"series": head["strategy"], "strategy": head["strategy"], "selection": selection}


def _thinking(pool: list[dict]) -> float | None:
    """Mean thinking tokens per candidate where the strategy recorded them (budget forcing)."""
    counts = [(c.get("info") or {}).get("thinking_tokens") for c in pool]
    return None if None in counts else sum(counts) / len(counts)


def _chain_records(pool: list[dict], base: dict) -> list[dict]:
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
        out.append({**base, **_named(head, head["info"]["selection"]), "verifier": head.get("verifier", "none")
                    if head["verifier_score"] is not None else "none", "budget": len(chains) * l,
                    "budget_unit": head["budget_unit"], "accuracy": float(subset[won]["correct"]), "mc_se": 0.0,
                    "gen_tokens": sum(c["generated_tokens"] for c in subset),
                    "flops": sum(c["flops"] + c["verifier_flops"] for c in subset)})
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
            "pretrain_flops": pretrain_flops,
        })
    return rows


def _mean_or_none(values: list) -> float | None:
    return None if not values or None in values else round(float(np.mean(values)), 3)


def _order(item) -> tuple:
    (model, series, strategy, selection, verifier, budget, unit, level), _ = item
    return (series, verifier, model, unit, budget, level != "all", level)
