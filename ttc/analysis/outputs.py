"""Files derived from a run's samples: `curves.csv`, `curves.png` (accuracy vs FLOPs, log x) and the terminal table.

Everything here is rebuilt from `samples.jsonl`; deleting these files loses nothing. `derive_curves` returns a
run's curves (rows, curves.csv text, figure title) for the run directory's writer to write; matplotlib is
imported only to draw (`write_png`), which the `ttc` command does in its side process (ttc.harness.side).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ttc.analysis.curves import COLUMNS, METRICS, POOL_STRATEGY, problem_records, series_label, summarize
from ttc.contracts.rundir import write_atomic

Draw = Callable[[Path, list, str], object]  # (curves.png path, rows, title)
NO_INTERVAL = {"±?": "±?: the row has no ci_low/ci_high (curves written without intervals), so no interval",
               "±n/a": "±n/a: one problem, so no interval over problems"}


@dataclass(frozen=True)
class Curves:
    """What a run's samples derive: its curve rows, their curves.csv text and the title of its curves.png (drawn
    from the rows by `write_png`). The run directory's writer writes them (ttc.harness.store.RunStore)."""

    rows: list[dict]
    csv: str
    title: str


def derive_curves(problems: Iterable[list[dict]], pretrain_flops: float | None) -> Curves:
    """The curves of a run from its finished problems' lines, one problem at a time (ttc.contracts.rundir.
    SampleStream, or any iterable of per-problem line lists): rows, curves.csv text and the figure's title."""
    records: list[dict] = []
    head: dict = {}
    for pool in problems:
        head = head or pool[0]
        records += problem_records(pool)
    rows = summarize(records, pretrain_flops)
    return Curves(rows, to_csv(rows), title_of([head] if head else []))


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
        for col in ("kv_bytes_per_problem", "weight_bytes_per_problem"):
            r[col] = float(r[col]) if r.get(col) else 0.0
        r["dollars_per_problem"] = float(r["dollars_per_problem"]) if r.get("dollars_per_problem") else None
        r["pretrain_flops"] = float(r["pretrain_flops"]) if r.get("pretrain_flops") else None
    return rows


def plot(rows: list[dict], title: str = "") -> bytes:
    """Accuracy (with 95% bootstrap bands) against FLOPs per problem, one line per strategy."""
    from ttc.analysis.plots import curves, png

    return png(curves(rows, title=title))


def asked_rows(rows: list[dict], selection: str | None) -> list[dict]:
    """The rows of the rule a run asked for: every row of its own strategy's curve, and of a pool (rows of
    strategy `best_of_n`, read by every rule) the rule its config's `selection` names. A pool read without a
    verifier has no `verifier` rule: a run asking for it selected by majority vote (best_of_n's stand-in, see
    ttc.strategies.best_of_n), so that is its rule. With no selection, no rule of a pool is the asked one."""
    pooled = [r for r in rows if r["strategy"] == POOL_STRATEGY]
    wanted = {r["selection"] for r in pooled}
    rule = "majority" if selection == "verifier" and selection not in wanted else selection
    return [r for r in rows if r["strategy"] != POOL_STRATEGY or (rule is not None and r["selection"] == rule)]


def format_table(rows: list[dict], difficulty: str = "all", asked: Iterable[dict] | None = None) -> str:
    """The terminal table of a run or a sweep at one difficulty level: the rules the runs asked for first
    (`asked`, rows matched to `rows` by model, series, verifier, budget, unit and level; default: every row of
    a strategy other than a pool, see `asked_rows`), then every other rule read off the same pools. One line
    per rule: its problem count, then per budget (as numbers, in the budget's own unit) accuracy, the half
    width of its 95% interval over problems and FLOPs per problem."""
    picked = [r for r in rows if str(r["level"]) == difficulty]
    if not picked:
        return f"no curve rows at difficulty={difficulty}"
    chosen = {_identity(r) for r in (asked if asked is not None else asked_rows(rows, None))}
    mine = [r for r in picked if _identity(r) in chosen]
    rest = [r for r in picked if _identity(r) not in chosen]
    models = sorted({r["model"] for r in picked})
    label = (lambda r: _label(r, models)) if len(models) == 1 else series_label
    head = (f"{', '.join(models)}, difficulty={difficulty}: accuracy ±half-width of its 95% interval over "
            f"problems (FLOPs per problem)")
    pools = {label(r) for r in mine if r["strategy"] == POOL_STRATEGY}
    also = ("also read off this pool" if len(pools) == 1 else "also read off these pools" if pools
            else "read off the pool (asked rule unknown)")
    grid = _Grid(picked, label, ["asked for"] * bool(mine) + [also] * bool(rest))
    blocks = [grid.block("asked for", mine), grid.block(also, rest)]
    lines = [head] + [line for b in blocks if b for line in ["", *b]]
    return "\n".join(lines + _footnotes(picked))


def _identity(r: dict) -> tuple:
    return (r["model"], r["series"], r["verifier"], float(r["budget"]), r["budget_unit"], str(r["level"]))


def _label(r: dict, models: list[str]) -> str:
    """series_label without the model, when one model is named in the heading."""
    return series_label(r).removeprefix(f"{models[0]} ")


class _Grid:
    """Columns shared by every block of one table (so a rule lines up with the rule it is compared to): per
    budget unit, its budgets as numbers and each budget's column width."""

    def __init__(self, rows: list[dict], label: Callable[[dict], str], titles: list[str]) -> None:
        self.label = label
        self.cells = {(label(r), r["budget_unit"], float(r["budget"])): _cell(r) for r in rows}
        self.width = max(len(t) for t in titles + [label(r) for r in rows])
        self.widths: dict[tuple[str, float], int] = {}
        for (_, unit, budget), cell in self.cells.items():
            key = (unit, budget)
            self.widths[key] = max(self.widths.get(key, len(_budget(budget, unit))), len(cell))

    def block(self, title: str, rows: list[dict]) -> list[str]:
        """A header per budget unit, then one line per rule: rules that pick an answer before measures that
        read the grades (pass@n, G-Pass@k), names in natural order (p2 before p16)."""
        series: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            series.setdefault((r["budget_unit"], self.label(r)), []).append(r)
        out: list[str] = []
        for unit in sorted({u for u, _ in series}):
            names = sorted((k for u, k in series if u == unit), key=lambda k: (
                series[unit, k][0]["selection"] in METRICS, _natural(series[unit, k][0]["series"]), _natural(k)))
            cols = sorted((b, w) for (u, b), w in self.widths.items() if u == unit)
            top = self._line(title if not out else "", "problems", [_budget(b, unit) for b, _ in cols], cols)
            out += [top, "-" * (self.width + 14 + sum(w + 3 for _, w in cols) - 3)]
            out += [self._line(k, _count(series[unit, k]), [self.cells.get((k, unit, b), "") for b, _ in cols],
                               cols) for k in names]
        return out

    def _line(self, name: str, count: str, cells: list[str], cols: list[tuple[float, int]]) -> str:
        while cells and not cells[-1]:  # a rule that stops at a smaller budget (`sample`) ends its line there
            cells = cells[:-1]
        return (f"{name:<{self.width}} | {count:>8} | " + " | ".join(
            f"{c:<{w}}" for c, (_, w) in zip(cells, cols))).rstrip()


def _cell(r: dict) -> str:
    return f"{float(r['accuracy']):.3f} {_half_width(r)} ({_flops(float(r['flops_per_problem']))})"


def _half_width(r: dict) -> str:
    """± half the 95% interval; `±?` where the row has no interval, `±n/a` where one problem gives none."""
    low, high = r.get("ci_low"), r.get("ci_high")
    if low in (None, "") or high in (None, "") or math.isnan(float(low)) or math.isnan(float(high)):
        return "±?"
    if int(r["n_problems"]) < 2:
        return "±n/a"
    return f"±{(float(high) - float(low)) / 2:.2f}"


def _footnotes(rows: list[dict]) -> list[str]:
    """Why a cell has no interval, once per reason that occurs."""
    marks = {_half_width(r) for r in rows}
    return [note for mark, note in NO_INTERVAL.items() if mark in marks]


def _count(rows: list[dict]) -> str:
    counts = sorted({int(r["n_problems"]) for r in rows})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def _budget(amount: float, unit: str) -> str:
    """`16 samples`, `1 sample`, `128 thinking tokens`: the budget in its own unit."""
    words = unit.replace("_", " ")
    number = str(int(amount)) if amount.is_integer() else f"{amount:g}"
    return f"{number} {words.removesuffix('s') if amount == 1 else words}"


def _flops(x: float) -> str:
    """2 significant digits, exponent without sign padding: 1.2e8, 3e-5."""
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{x:.2g}")


def _natural(name: str) -> list:
    """A sort key that orders the numbers inside a name as numbers: p2 < p16, g_pass_0.5 < g_pass_0.75."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
