"""Files derived from a run's samples: `curves.csv`, `curves.png` (accuracy vs FLOPs, log x) and a table.

Everything here is rebuilt from `samples.jsonl`; deleting these files loses nothing.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from analysis.curves import COLUMNS, per_problem, summarize  # noqa: E402
from harness.store import write_atomic  # noqa: E402


def write_curves(run_dir: Path, lines: list[dict], pretrain_flops: float | None) -> list[dict]:
    rows = summarize(per_problem(lines), pretrain_flops)
    write_atomic(run_dir / "curves.csv", to_csv(rows))
    head = lines[0] if lines else {}
    title = " / ".join(str(head.get(k, "")) for k in ("task", "generator", "strategy", "verifier"))
    write_atomic(run_dir / "curves.png", plot(rows, title=title))
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_csv(path: Path) -> list[dict]:
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for col in ("budget", "n_problems"):
            r[col] = int(r[col])
        for col in ("accuracy", "ci_low", "ci_high", "mc_se", "gen_tokens_per_problem", "flops_per_problem"):
            r[col] = float(r[col])
        r["thinking_tokens_per_problem"] = float(r["thinking_tokens_per_problem"]) if r.get(
            "thinking_tokens_per_problem") else None
    return rows


def _label(r: dict) -> str:
    extra = f" [{r['verifier']}]" if r["verifier"] not in ("none", "") else ""
    return f"{r['model']} {r['strategy']}{extra}"


def plot(rows: list[dict], title: str = "") -> bytes:
    """Accuracy (with 95% bootstrap bands) against FLOPs per problem, one line per strategy."""
    series: dict[str, list[dict]] = {}
    for r in rows:
        if r["difficulty"] == "all":
            series.setdefault(_label(r), []).append(r)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for label, rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r["flops_per_problem"])
        x = [r["flops_per_problem"] for r in rs]
        style = "--" if "oracle" in label else "-"
        ax.plot(x, [r["accuracy"] for r in rs], style, marker="o", ms=3, label=label)
        ax.fill_between(x, [r["ci_low"] for r in rs], [r["ci_high"] for r in rs], alpha=0.12)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per problem (generator + verifier)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def format_table(rows: list[dict], difficulty: str = "all") -> str:
    """Accuracy (FLOPs per problem) per strategy and budget, for one difficulty bucket."""
    picked = [r for r in rows if r["difficulty"] == difficulty]
    budgets = sorted({r["budget"] for r in picked})
    cells: dict[str, dict[int, str]] = {}
    for r in picked:
        cells.setdefault(_label(r), {})[r["budget"]] = f"{r['accuracy']:.3f} ({r['flops_per_problem']:.2g})"
    width = max([len(k) for k in cells] + [8])
    head = f"{'strategy':<{width}} | " + " | ".join(f"{'n=' + str(b):<15}" for b in budgets)
    lines = [f"accuracy (FLOPs/problem), difficulty={difficulty}", head, "-" * len(head)]
    for label in sorted(cells):
        lines.append(f"{label:<{width}} | " + " | ".join(f"{cells[label].get(b, ''):<15}" for b in budgets))
    return "\n".join(lines)
