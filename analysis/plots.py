"""The figures of runs and reports, in one shared style: curves with bands and the Pareto frontier, one panel
per difficulty level, the compute-optimal policy against its baselines, per-bin gains, the FLOPs exchange.

Every series gets a colour per model x strategy (the strategy that drew the candidates) x verifier (the
scores a selection reads) and a line style per selection rule, and its points are marked with their budget (n=k). Functions return matplotlib figures;
`png` / `save` turn one into bytes (PNG for pages, PDF and SVG for papers) with no timestamps in them, so
the same data gives the same files.
"""

from __future__ import annotations

import io
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ttc.analysis.curves import series_label  # noqa: E402

STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False, "savefig.dpi": 150, "figure.dpi": 100, "lines.linewidth": 1.4,
         "lines.markersize": 3.5}
DASHES = {"oracle": ":", "first": "", "majority": "-", "verifier": "--", "weighted_vote": "-.",
          "logprob_sum": (0, (5, 1, 1, 1)), "logprob_mean": (0, (3, 1, 1, 1, 1, 1))}
FORMATS = ("png", "pdf", "svg")
_META = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}, "svg": {"Date": None}}


def save(fig, fmt: str = "png") -> bytes:
    """The figure as PNG, PDF or SVG bytes (no timestamps), then closed unless more formats are wanted."""
    buf = io.BytesIO()
    with plt.rc_context(STYLE):
        fig.savefig(buf, format=fmt, metadata=_META[fmt], bbox_inches="tight")
    return buf.getvalue()


def png(fig) -> bytes:
    """PNG bytes of the figure, which is closed."""
    out = save(fig, "png")
    plt.close(fig)
    return out


def _key(r: dict) -> tuple:
    """What a colour stands for: model, strategy and the scores its selection reads (verifier)."""
    return r["model"], r["strategy"], r["verifier"]


def _colours(rows: Iterable[dict]) -> dict[tuple, str]:
    keys = sorted({_key(r) for r in rows})
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {k: cycle[i % len(cycle)] for i, k in enumerate(keys)}


def _linestyle(selection: str):
    style = DASHES.get(selection, "-")
    return "-" if style == "" else style


def _draw(ax, rows: list[dict], x: str, colours: dict, mark_budgets: bool = True) -> None:
    series: dict[str, list[dict]] = {}
    for r in rows:
        if r["selection"] == "g_pass":  # G-Pass@k stays in the tables: three more lines per pool would crowd
            continue
        series.setdefault(series_label(r), []).append(r)
    for label, rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r[x])
        head, xs = rs[0], [r[x] for r in rs]
        colour = colours[_key(head)]
        ax.plot(xs, [r["accuracy"] for r in rs], linestyle=_linestyle(head["selection"]), marker="o",
                color=colour, label=label, alpha=0.7 if head["selection"] == "oracle" else 1.0)
        ax.fill_between(xs, [r["ci_low"] for r in rs], [r["ci_high"] for r in rs], color=colour, alpha=0.08, lw=0)
        if mark_budgets and len(rs) > 1:
            for r in rs:
                ax.annotate(f"{r['budget']}", (r[x], r["accuracy"]), textcoords="offset points", xytext=(2, 3),
                            fontsize=5.5, color=colour)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)


def _xlabel(x: str) -> str:
    return "FLOPs per problem (generator + verifier)" if x.startswith("flops") else "generated tokens per problem"


def curves(rows: list[dict], fronts: dict | None = None, x: str = "flops_per_problem", title: str = ""):
    """Accuracy against `x` (FLOPs or generated tokens per problem), one line per series, with 95% bands,
    budgets marked, and, if given, each model's Pareto frontier."""
    mine = [r for r in rows if r["level"] == "all"]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 4.8))
        _draw(ax, mine, x, _colours(mine))
        for model, front in (fronts or {}).items():
            ax.step([r["flops_per_problem"] for r in front], [r["accuracy"] for r in front], where="post",
                    color="k", lw=2, alpha=0.4, label=f"{model} Pareto frontier")
        ax.set_xlabel(_xlabel(x) + " (numbers: budget)")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def levels(rows: list[dict], x: str = "flops_per_problem"):
    """One panel per difficulty level (as in Snell et al.): accuracy against `x` for every series."""
    levs = sorted({r["level"] for r in rows if r["level"] != "all"}, key=lambda v: (len(v), v))
    with plt.rc_context(STYLE):
        cols = min(len(levs), 3) or 1
        fig, axes = plt.subplots((len(levs) + cols - 1) // cols or 1, cols, figsize=(3.6 * cols, 2.9 * (
            (len(levs) + cols - 1) // cols or 1)), sharey=True, squeeze=False)
        colours = _colours(rows)
        for ax, lev in zip(axes.flat, levs):
            mine = [r for r in rows if r["level"] == lev]
            _draw(ax, mine, x, colours, mark_budgets=False)
            ax.set_title(f"level {lev} ({mine[0]['n_problems']} problems)")
            ax.set_xlabel(_xlabel(x))
        for ax in axes.flat[len(levs):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy")
        fig.tight_layout()
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center left", frameon=False, bbox_to_anchor=(1.0, 0.5))
    return fig


def policy(rows: list[dict], kind: str):
    """The compute-optimal policy (held-out, all problems) against its baseline and the best single arm,
    across budgets, with the gain's interval as error bars on the policy's points."""
    mine = sorted((r for r in rows if r["difficulty"] == "all" and r["adaptive_accuracy"] is not None),
                  key=lambda r: (r["model"], r["budget_flops"]))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for model in sorted({r["model"] for r in mine}):
            rs = [r for r in mine if r["model"] == model]
            xs = [r["budget_flops"] for r in rs]
            line, = ax.plot(xs, [r["adaptive_accuracy"] for r in rs], marker="o", label=f"{model} {kind} policy")
            err = [[r["gain"] - r["gain_ci_low"] for r in rs], [r["gain_ci_high"] - r["gain"] for r in rs]]
            ax.errorbar(xs, [r["adaptive_accuracy"] for r in rs], yerr=err, fmt="none", ecolor=line.get_color(),
                        capsize=2, alpha=0.6)
            ax.plot(xs, [r["baseline_accuracy"] for r in rs], marker="s", linestyle="--", color=line.get_color(),
                    label=f"{model} baseline ({rs[0]['baseline']})")
            fixed = [(x, r["fixed_accuracy"]) for x, r in zip(xs, rs) if r.get("fixed_accuracy") is not None]
            if fixed:
                ax.plot(*zip(*fixed), marker="^", linestyle=":", color=line.get_color(),
                        label=f"{model} best single arm")
        ax.set_xscale("log")
        ax.set_xlabel("budget: FLOPs per problem of the baseline")
        ax.set_ylabel("held-out accuracy")
        ax.set_ylim(0, 1)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def optimal(rows: list[dict]):
    """Held-out gain of the compute-optimal arm over the baseline, per bin, against budget."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for (model, diff), rs in sorted(_group(rows, ("model", "difficulty")).items()):
            rs = sorted(rs, key=lambda r: r["budget_flops"])
            xs = [r["budget_flops"] for r in rs]
            ax.errorbar(xs, [r["gain"] for r in rs], yerr=[[r["gain"] - r["gain_ci_low"] for r in rs],
                                                          [r["gain_ci_high"] - r["gain"] for r in rs]],
                        marker="o", capsize=2, lw=2 if diff == "all" else 1, label=f"{model} bin {diff}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("budget: FLOPs per problem of the baseline")
        ax.set_ylabel("held-out gain over baseline")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def exchange(rows: list[dict]):
    """Small model with test-time compute minus large model greedy, per R and bin, with intervals."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 4.2))
        groups = sorted(_group(rows, ("small", "large", "R")).items())
        width = 0.8 / max(len(groups), 1)
        diffs = sorted({r["difficulty"] for r in rows}, key=lambda d: (d != "all", d))
        for i, ((small, large, ratio), rs) in enumerate(groups):
            by = {r["difficulty"]: r for r in rs}
            ds = [d for d in diffs if d in by and by[d]["difference"] is not None]
            xs = [diffs.index(d) + i * width for d in ds]
            ys = [by[d]["difference"] for d in ds]
            err = [[by[d]["difference"] - by[d]["ci_low"] for d in ds], [by[d]["ci_high"] - by[d]["difference"]
                                                                         for d in ds]]
            ax.bar(xs, ys, width, yerr=err, capsize=2, label=f"{small} vs {large}, R={ratio:g}")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(diffs))], [f"bin {d}" for d in diffs])
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylabel("small (test-time) - large (greedy) accuracy")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def calibration(rows: list[dict]):
    """Reliability diagram: share correct against mean score per score bin, one line per model x verifier."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5, 4.2))
        ax.plot([0, 1], [0, 1], color="k", lw=0.8, linestyle=":", label="calibrated")
        for r in rows:
            if r["bins"]:
                ax.plot([b["mean_score"] for b in r["bins"]], [b["accuracy"] for b in r["bins"]], marker="o",
                        label=f"{r['model']} [{r['verifier']}] ECE {r['ece']:.3f}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("verifier score (bin mean)")
        ax.set_ylabel("share of candidates right")
        ax.legend(loc="upper left", frameon=False)
    return fig


def overoptimisation(rows: list[dict]):
    """Best-of-n by each verifier against pass@n as n grows, the verifier's peak marked where it then falls."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        drawn = set()
        for r in rows:
            line, = ax.plot(r["n"], r["selected_accuracy"], marker="o", label=f"{r['model']} best-of-n [{r['verifier']}]")
            if r["model"] not in drawn and any(a is not None for a in r["pass_at_n"]):
                ax.plot(r["n"], r["pass_at_n"], linestyle=":", color="grey", label=f"{r['model']} pass@n (oracle)")
                drawn.add(r["model"])
            if r["peak_n"] is not None:
                ax.axvline(r["peak_n"], color=line.get_color(), lw=0.8, linestyle="--")
                ax.annotate(f"peak n={r['peak_n']}", (r["peak_n"], max(r["selected_accuracy"])), fontsize=7,
                            xytext=(3, 4), textcoords="offset points", color=line.get_color())
        ax.set_xscale("log", base=2)
        ax.set_xlabel("n (samples)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def _group(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("gain", 0) is None and "gain" in r:
            continue
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out
