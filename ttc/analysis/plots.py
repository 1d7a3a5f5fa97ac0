"""The figures of runs and reports, in one shared style: curves with bands and the Pareto frontier, one panel
per difficulty level, the compute-optimal policy against its baselines, per-bin gains, the FLOPs exchange.

A report's curves show a few series a panel (ttc.analysis.panels: at most MOST, the Pareto arms and the rules the
runs asked for first, the rest in further panels), so each arm keeps its own colour of a qualitative palette and its
own marker, with a light 95% band, and its points are marked with their budget (n=k); measures that read the
grades (pass@n, G-Pass@k) are dashed reference lines, not arms. Functions return matplotlib figures;
`png` / `save` turn one into bytes (PNG for pages, PDF and SVG for papers) with no timestamps in them, so
the same data gives the same files.
"""

from __future__ import annotations

import io
import textwrap
from contextlib import contextmanager
from typing import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ttc.analysis.curves import series_label  # noqa: E402
from ttc.analysis.panels import MOST, default_labels, is_reference, panels  # noqa: E402

__all__ = ["FORMATS", "MOST", "calibration", "curves", "exchange", "is_reference", "levels", "more", "optimal",
           "overoptimisation", "panels", "png", "policy", "save"]

STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False, "savefig.dpi": 150, "figure.dpi": 100, "lines.linewidth": 1.4,
         "lines.markersize": 3.5}
PALETTE = plt.get_cmap("tab10").colors  # qualitative: ten colours no two of which read alike
MARKERS = "osD^vP*Xhp"
REFERENCE = {"linestyle": (0, (4, 2)), "lw": 1.0, "marker": "", "alpha": 0.8}  # measures, not arms: dashed
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


@contextmanager
def _figure(size: tuple[float, float]) -> Iterator[tuple[object, object]]:
    """(figure, axes) of one panel of `size` inches, drawn in the shared style."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=size)
        yield fig, ax


def _legend(ax) -> None:
    """The legend to the right of the axes, unframed."""
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def _budget_axis(ax, ylabel: str) -> None:
    """A log x axis of the baseline's FLOPs per problem, and `ylabel`."""
    ax.set_xscale("log")
    ax.set_xlabel("budget: FLOPs per problem of the baseline")
    ax.set_ylabel(ylabel)


def _draw(ax, rows: list[dict], x: str, labels: list[str], mark_budgets: bool = True, tag: str = "") -> None:
    """The series `labels` of `rows`: an arm in its own colour and marker (by its place in `labels`, so the same
    in every panel) with a light 95% band; a reference dashed, grey beside arms, without a band. Legend entries
    drop the model where there is one, and `tag` (said in the panel's title)."""
    series: dict[str, list[dict]] = {}
    for r in rows:
        series.setdefault(series_label(r), []).append(r)
    only_refs = all(is_reference(series[label][0]) for label in labels if label in series)
    alone = len({r["model"] for r in rows}) == 1
    for i, label in enumerate(labels):
        rs = sorted(series.get(label, []), key=lambda r: r[x])
        if not rs:
            continue
        xs, ys = [r[x] for r in rs], [r["accuracy"] for r in rs]
        colour = PALETTE[i % len(PALETTE)]
        marker = MARKERS[(i + i // len(PALETTE)) % len(MARKERS)]
        name = label.removeprefix(f"{rs[0]['model']} " if alone else "")
        name = textwrap.fill(name.replace(f" {tag}", "") if tag else name, 60, subsequent_indent="  ")
        if is_reference(rs[0]):
            ax.plot(xs, ys, label=f"{name} (reference)", **{**REFERENCE, "color": colour if only_refs else "0.4",
                                                             "marker": marker if only_refs else ""})
            continue
        ax.plot(xs, ys, linestyle="-", marker=marker, color=colour, label=name)
        ax.fill_between(xs, [r["ci_low"] for r in rs], [r["ci_high"] for r in rs], color=colour, alpha=0.06, lw=0)
        if mark_budgets and len(rs) > 1:
            for r in rs:
                ax.annotate(f"{r['budget']}", (r[x], r["accuracy"]), textcoords="offset points", xytext=(2, 3),
                            fontsize=5.5, color=colour)
    if any(float(r[x]) > 0 for r in rows):  # a run that recorded no compute (a replayed pool) stays linear
        ax.set_xscale("log")
    ax.set_ylim(0, 1)


def _xlabel(x: str) -> str:
    if x == "budget":
        return "budget (samples per problem)"
    return "FLOPs per problem (generator + verifier)" if x.startswith("flops") else "generated tokens per problem"


def curves(rows: list[dict], fronts: dict | None = None, x: str = "flops_per_problem", title: str = "",
           labels: list[str] | None = None):
    """Accuracy against `x` (FLOPs or generated tokens per problem) of the series `labels` (default: every series
    but G-Pass), arms with 95% bands and budgets marked, references dashed, and, if given, each model's Pareto
    frontier."""
    mine = [r for r in rows if r["level"] == "all"]
    if x == "flops_per_problem" and not any(float(r[x]) > 0 for r in mine):
        x, fronts = "budget", None  # no compute recorded (a pool replayed without params=): budgets on the x-axis
    with _figure((8, 4.8)) as (fig, ax):
        _draw(ax, mine, x, default_labels(mine) if labels is None else labels)
        for model, front in (fronts or {}).items():
            ax.step([r["flops_per_problem"] for r in front], [r["accuracy"] for r in front], where="post",
                    color="k", lw=2, alpha=0.3, label=f"{model} Pareto frontier")
        ax.set_xlabel(_xlabel(x) + " (numbers: budget)")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        _legend(ax)
    return fig


def more(rows: list[dict], groups: list[tuple[str, list[str]]], x: str = "flops_per_problem"):
    """One panel per (title, series labels) of `groups` (see `panels`), stacked, each with its own legend."""
    mine = [r for r in rows if r["level"] == "all"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(groups), 1, figsize=(8, 3.4 * len(groups)), sharex=True, squeeze=False)
        for ax, (title, labels) in zip(axes[:, 0], groups):
            _, paren, tag = title.partition(" (")  # a pool's panel names its tag once, in the title
            _draw(ax, mine, x, labels, mark_budgets=False, tag=f"({tag}" if paren else "")
            ax.set_title(title, loc="left")
            ax.set_ylabel("accuracy")
            _legend(ax)
        axes[-1, 0].set_xlabel(_xlabel(x))
        axes[-1, 0].xaxis.set_tick_params(labelbottom=True)
    return fig


def levels(rows: list[dict], x: str = "flops_per_problem", labels: list[str] | None = None):
    """One panel per difficulty level (as in Snell et al.): accuracy against `x` for the series `labels`
    (default: every series but G-Pass)."""
    levs = sorted({r["level"] for r in rows if r["level"] != "all"}, key=lambda v: (len(v), v))
    labels = default_labels(rows) if labels is None else labels
    with plt.rc_context(STYLE):
        cols = min(len(levs), 3) or 1
        fig, axes = plt.subplots((len(levs) + cols - 1) // cols or 1, cols, figsize=(3.6 * cols, 2.9 * (
            (len(levs) + cols - 1) // cols or 1)), sharey=True, squeeze=False)
        for ax, lev in zip(axes.flat, levs):
            mine = [r for r in rows if r["level"] == lev]
            _draw(ax, mine, x, labels, mark_budgets=False)
            ax.set_title(f"level {lev} ({mine[0]['n_problems']} problems)")
            ax.set_xlabel(_xlabel(x))
        for ax in axes.flat[len(levs):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy")
        fig.tight_layout()
        shown = {}  # a series missing from one level still gets its legend entry from another
        for ax in axes.flat[:len(levs)]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                shown.setdefault(label, handle)
        fig.legend(list(shown.values()), list(shown), loc="center left", frameon=False, bbox_to_anchor=(1.0, 0.5))
    return fig


def policy(rows: list[dict], kind: str):
    """The compute-optimal policy (held-out, all problems) against its baseline and the best single arm,
    across budgets, with the gain's interval as error bars on the policy's points."""
    mine = sorted((r for r in rows if r["difficulty"] == "all" and r["adaptive_accuracy"] is not None),
                  key=lambda r: (r["model"], r["budget_flops"]))
    with _figure((7, 4.2)) as (fig, ax):
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
        _budget_axis(ax, "held-out accuracy")
        ax.set_ylim(0, 1)
        _legend(ax)
    return fig


def optimal(rows: list[dict]):
    """Held-out gain of the compute-optimal arm over the baseline, per bin, against budget."""
    with _figure((7, 4.2)) as (fig, ax):
        for (model, diff), rs in sorted(_group(rows, ("model", "difficulty")).items()):
            rs = sorted(rs, key=lambda r: r["budget_flops"])
            xs = [r["budget_flops"] for r in rs]
            ax.errorbar(xs, [r["gain"] for r in rs], yerr=[[r["gain"] - r["gain_ci_low"] for r in rs],
                                                          [r["gain_ci_high"] - r["gain"] for r in rs]],
                        marker="o", capsize=2, lw=2 if diff == "all" else 1, label=f"{model} bin {diff}")
        ax.axhline(0, color="k", lw=0.8)
        _budget_axis(ax, "held-out gain over baseline")
        _legend(ax)
    return fig


def exchange(rows: list[dict]):
    """Small model with test-time compute minus large model greedy, per R and bin, with intervals."""
    with _figure((8, 4.2)) as (fig, ax):
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
        _legend(ax)
    return fig


def calibration(rows: list[dict]):
    """Reliability diagram: share correct against mean score per score bin, one line per model x verifier."""
    with _figure((5, 4.2)) as (fig, ax):
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
    with _figure((6.5, 4.2)) as (fig, ax):
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
        _legend(ax)
    return fig


def _group(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("gain", 0) is None and "gain" in r:
            continue
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out
