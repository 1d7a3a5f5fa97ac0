"""The report's PNG plots: curves with bands and the Pareto frontier, per-bin gains, the FLOPs exchange."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def series_label(r: dict) -> str:
    """One curve's name: model, strategy and (if any) verifier."""
    extra = f" [{r['verifier']}]" if r["verifier"] not in ("none", "") else ""
    return f"{r['model']} {r['strategy']}{extra}"


def curves(rows: list[dict], fronts: dict | None = None, x: str = "flops_per_problem", title: str = "") -> bytes:
    """Accuracy against `x` (FLOPs or generated tokens per problem), one line per model x strategy x verifier,
    with 95% bootstrap bands and, if given, each model's Pareto frontier."""
    series: dict[str, list[dict]] = {}
    for r in rows:
        if r["difficulty"] == "all":
            series.setdefault(series_label(r), []).append(r)
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=100)
    for label, rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r[x])
        xs = [r[x] for r in rs]
        ax.plot(xs, [r["accuracy"] for r in rs], "--" if "oracle" in label else "-", marker="o", ms=3, label=label)
        ax.fill_between(xs, [r["ci_low"] for r in rs], [r["ci_high"] for r in rs], alpha=0.1)
    for model, front in (fronts or {}).items():
        ax.step([r["flops_per_problem"] for r in front], [r["accuracy"] for r in front], where="post", color="k",
                lw=2, alpha=0.5, label=f"{model} Pareto frontier")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per problem (generator + verifier)" if x.startswith("flops") else "generated tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)


def optimal(rows: list[dict]) -> bytes:
    """Held-out gain of the compute-optimal arm over the baseline, per bin, against budget."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for (model, diff), rs in sorted(_group(rows, ("model", "difficulty")).items()):
        rs = sorted(rs, key=lambda r: r["budget_flops"])
        xs = [r["budget_flops"] for r in rs]
        ax.errorbar(xs, [r["gain"] for r in rs], yerr=[[r["gain"] - r["gain_ci_low"] for r in rs],
                                                      [r["gain_ci_high"] - r["gain"] for r in rs]],
                    marker="o", ms=3, capsize=2, lw=2 if diff == "all" else 1, label=f"{model} bin {diff}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("budget: FLOPs per problem of the baseline")
    ax.set_ylabel("held-out gain over baseline")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)


def exchange(rows: list[dict]) -> bytes:
    """Small model with test-time compute minus large model greedy, per R and bin, with intervals."""
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    groups = sorted(_group(rows, ("small", "large", "R")).items())
    width = 0.8 / max(len(groups), 1)
    diffs = sorted({r["difficulty"] for r in rows}, key=lambda d: (d != "all", d))
    for i, ((small, large, ratio), rs) in enumerate(groups):
        by = {r["difficulty"]: r for r in rs}
        xs = [j + i * width for j, d in enumerate(diffs) if d in by and by[d]["difference"] is not None]
        ds = [d for d in diffs if d in by and by[d]["difference"] is not None]
        ys = [by[d]["difference"] for d in ds]
        err = [[by[d]["difference"] - by[d]["ci_low"] for d in ds], [by[d]["ci_high"] - by[d]["difference"] for d in ds]]
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=f"{small} vs {large}, R={ratio:g}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(diffs))], [f"bin {d}" for d in diffs])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("small (test-time) - large (greedy) accuracy")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)


def _group(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("gain", 0) is None and "gain" in r:
            continue
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out
