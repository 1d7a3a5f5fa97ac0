"""Files derived from a run's samples: `curves.csv`, `curves.png` (accuracy vs FLOPs, log x) and a table.

Everything here is rebuilt from `samples.jsonl`; deleting these files loses nothing. matplotlib is imported
only to draw (`write_png`), which the `ttc` command does in its side process (ttc.harness.side).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Callable

from ttc.analysis.curves import COLUMNS, per_problem, series_label, summarize
from ttc.contracts.rundir import write_atomic

Draw = Callable[[Path, list, str], object]  # (curves.png path, rows, title)


def write_curves(run_dir: Path, lines: list[dict], pretrain_flops: float | None,
                 draw: Draw | None = None) -> list[dict]:
    """Derive curves.csv and curves.png of a run from its sample lines; return the rows. `draw` (default
    `write_png`, here and now) is handed the figure's path, rows and title."""
    rows = summarize(per_problem(lines), pretrain_flops)
    write_atomic(run_dir / "curves.csv", to_csv(rows))
    (draw or write_png)(run_dir / "curves.png", rows, title_of(lines))
    return rows


def title_of(lines: list[dict]) -> str:
    """A run's figure title: task / generator / strategy / verifier of its first sample line."""
    head = lines[0] if lines else {}
    return " / ".join(str(head.get(k, "")) for k in ("task", "generator", "strategy", "verifier"))


def write_png(path: Path, rows: list[dict], title: str) -> None:
    """Draw the curves of `rows` and write them to `path` (whole, by rename)."""
    write_atomic(path, plot(rows, title=title))


def to_csv(rows: list[dict]) -> str:
    """curves.csv text of curve rows."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_csv(path: Path) -> list[dict]:
    """Curve rows from a curves.csv file, with numeric columns parsed."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for col in ("budget", "n_problems"):
            r[col] = int(r[col])
        for col in ("accuracy", "ci_low", "ci_high", "mc_se", "gen_tokens_per_problem", "flops_per_problem"):
            r[col] = float(r[col])
        r["thinking_tokens_per_problem"] = float(r["thinking_tokens_per_problem"]) if r.get(
            "thinking_tokens_per_problem") else None
        r["pretrain_flops"] = float(r["pretrain_flops"]) if r.get("pretrain_flops") else None
    return rows


def plot(rows: list[dict], title: str = "") -> bytes:
    """Accuracy (with 95% bootstrap bands) against FLOPs per problem, one line per strategy."""
    from ttc.analysis.plots import curves, png

    return png(curves(rows, title=title))


def format_table(rows: list[dict], difficulty: str = "all") -> str:
    """Accuracy (FLOPs per problem) per series and budget, for one difficulty level."""
    picked = [r for r in rows if r["level"] == difficulty]
    budgets = sorted({r["budget"] for r in picked})
    cells: dict[str, dict[int, str]] = {}
    for r in picked:
        cells.setdefault(series_label(r), {})[r["budget"]] = f"{r['accuracy']:.3f} ({r['flops_per_problem']:.2g})"
    width = max([len(k) for k in cells] + [8])
    head = f"{'series':<{width}} | " + " | ".join(f"{'n=' + str(b):<15}" for b in budgets)
    lines = [f"accuracy (FLOPs/problem), difficulty={difficulty}", head, "-" * len(head)]
    for label in sorted(cells):
        lines.append(f"{label:<{width}} | " + " | ".join(f"{cells[label].get(b, ''):<15}" for b in budgets))
    return "\n".join(lines)
