"""Write a built report (`ttc.analysis.report.build`): `report.md`, `report.html`, the figures as PNG, PDF and
SVG, `report.json` (every table) and one `policy-MODEL.json` per model for `strategy=adaptive`.

The page answers first: the best strategy per budget (each model's Pareto frontier), then the warnings (one
line per cause, folded on the page), then the figures and tables; measures that read the grades (pass@n,
G-Pass) are references apart from the arms, and the main figure holds at most `plots.MOST` series.
The Markdown is the source: each section is Markdown text (tables ordered by accuracy), rendered to HTML by
the `markdown` library (tables extension) inside a Jinja2 template, so no Markdown syntax survives on the
page. The page embeds its PNGs (no network), makes every table sortable by a click on its header, and says
in `data-rendered` / `data-errors` on <body> how many figures loaded (checked in headless Chromium).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jinja2
import markdown
from markupsafe import Markup

from ttc.analysis import plots
from ttc.analysis.curves import series_label
from ttc.contracts.selections import is_measure
from ttc.contracts.rundir import write_atomic

GLOSSARY = [
    ("series", "one curve: a strategy (how candidates were drawn), a selection rule (how one answer is picked) "
               "and a verifier, at every budget; e.g. majority = best_of_n drawing, majority selection"),
    ("arm", "a runnable strategy config at one budget (a series at one point); the policy picks one arm per bin"),
    ("budget", "the amount a strategy may spend, in its budget unit: samples (n), beam width x steps, "
               "thinking tokens; the curves' x is what it really spent, in FLOPs per problem"),
    ("budget unit", "what a budget counts (samples, tokens, ...); series of different units meet on the FLOPs axis"),
    ("oracle difficulty", "bins of each problem's pass@1 from the sample pool: uses the grades, so only for analysis"),
    ("predicted difficulty", "bins of the verifier's mean score over a short probe: usable at inference; the "
                             "probe's FLOPs are charged to every arm"),
    ("R", "inference tokens over pretraining tokens (Snell et al.): how much test-time use a model sees, which "
          "sets how many test-time FLOPs one pretraining FLOP is worth"),
    ("reference", "a measure that reads the grades, not a runnable arm: shown apart from the arms, dashed in figures"),
    ("oracle_pass_at_n", "pass@n: right if any of n samples is right; an upper bound no selector reaches"),
    ("g_pass_τ", "G-Pass@n (Liu et al. 2024): at least a share τ of n samples right; τ = 1 asks for consistency"),
    ("interval", "95% BCa bootstrap over problems, paired: every row resamples the same problems"),
]

ANSWER, WARNINGS = "Best strategy per budget", "Warnings"
ANSWER_COLS = ["model", "budget", "best arm", "verifier", "accuracy", "95% interval"]
CURVE_COLS = ["model", "series", "selection", "verifier", "budget", "accuracy", "ci_low", "ci_high",
              "gen_tokens_per_problem", "flops_per_problem"]
CMP_COLS = ["model", "series", "verifier", "budget", "baseline", "n_problems", "difference", "ci_low", "ci_high",
            "verdict"]
CAL_COLS = ["model", "verifier", "n_candidates", "share_right", "auroc", "ece", "auroc_by_level"]
OVER_COLS = ["model", "verifier", "n", "selected_accuracy", "pass_at_n", "peak_n", "drop_after_peak"]
OPT_COLS = ["model", "budget_flops", "baseline", "difficulty", "n_problems", "chosen", "adaptive_accuracy",
            "baseline_accuracy", "gain", "gain_ci_low", "gain_ci_high", "fixed_accuracy"]
EX_COLS = ["R", "small", "large", "difficulty", "n_problems", "small_budget_per_query", "small_arms",
           "small_accuracy", "large_greedy_accuracy", "difference", "ci_low", "ci_high", "winner"]

TEMPLATE = jinja2.Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>ttc report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}
th{cursor:pointer;background:#f4f4f4}th:hover{background:#e8e8e8}img{max-width:100%}
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:0.3em 0.8em}summary{cursor:pointer}
</style>
<script>
var errs=[];window.addEventListener('error',function(e){errs.push(String(e.message))});
function sortBy(th){var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th);
var rows=Array.prototype.slice.call(t.tBodies[0].rows),up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';
rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,p=parseFloat(x),q=parseFloat(y);
var c=(!isNaN(p)&&!isNaN(q))?p-q:x.localeCompare(y);return up?c:-c});rows.forEach(function(r){t.tBodies[0].appendChild(r)})}
window.addEventListener('load',function(){var th=document.querySelectorAll('th');for(var i=0;i<th.length;i++)
{th[i].addEventListener('click',function(){sortBy(this)})}var im=document.images,ok=0;
for(var j=0;j<im.length;j++){if(im[j].complete&&im[j].naturalWidth>0)ok++}
document.body.setAttribute('data-rendered',ok+'/'+im.length);document.body.setAttribute('data-errors',errs.length)});
</script></head>
<body><h1>ttc report</h1>
{% for s in sections %}<section><h2>{{ s.title }}</h2>
{% for img in s.images %}<img alt="{{ s.title }}" src="data:image/png;base64,{{ img }}">
{% endfor %}<div class="{{ s.css }}">{% if s.fold %}<details><summary>{{ s.fold }}</summary>{{ s.html }}</details>
{% else %}{{ s.html }}{% endif %}</div></section>
{% endfor %}</body></html>
""", autoescape=True)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1000 else f"{v:.3f}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return "" if v is None else str(v).replace("|", "/")


def table(rows: list[dict], cols: list[str], order: str | None = None) -> str:
    """A Markdown table of `rows`, best `order` first when given."""
    if order:
        rows = sorted(rows, key=lambda r: -(r.get(order) if r.get(order) is not None else float("-inf")))
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(_cell(r.get(c)) for c in cols) + " |\n" for r in rows) + "\n"


def answer(data: dict) -> str:
    """The best strategy per budget: each model's Pareto frontier over the runnable arms as one line, then a
    table of which arm is best from each budget on, with its accuracy and interval."""
    fronts = {model: _levels(front) for model, front in data["pareto"].items()}
    lines = "".join(f"**{model}**: " + " → ".join(f"{_arm(r)} ({r['accuracy']:.3f})" for r in front) + "\n\n"
                    for model, front in fronts.items())
    rows = []
    for model, front in fronts.items():
        for r, nxt in zip(front, front[1:] + [None]):
            upto = f"to {nxt['flops_per_problem']:.3g}" if nxt else "or more"
            rows.append({"model": model, "budget": f"{r['flops_per_problem']:.3g} {upto}", "best arm": _arm(r),
                         "verifier": r["verifier"], "accuracy": r["accuracy"],
                         "95% interval": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"})
    return ("For a budget in FLOPs per problem, the most accurate runnable arm costing no more: each model's Pareto "
            "frontier, cheapest first (arm@budget (accuracy)). pass@n and G-Pass are references, not arms "
            "(see Reference measures).\n\n" + lines + table(rows, ANSWER_COLS))


def _levels(front: list[dict]) -> list[dict]:
    """The frontier at the precision shown (3 significant figures of FLOPs): a point costing what the next one
    costs is no budget level of its own, the next (more accurate) arm is best there."""
    return [r for r, nxt in zip(front, front[1:] + [None])
            if nxt is None or f"{r['flops_per_problem']:.3g}" != f"{nxt['flops_per_problem']:.3g}"]


def _arm(r: dict) -> str:
    unit = "" if r.get("budget_unit", "samples") == "samples" else f" {r['budget_unit']}"
    return f"{r['series']}@{r['budget']}{unit}"


def references(curves: list[dict]) -> str:
    """The measures that read the grades (pass@n, G-Pass@k), one row each, accuracy per budget n."""
    refs = [r for r in curves if r["level"] == "all" and is_measure(r["selection"])]
    rows: dict[tuple, dict] = {}
    for r in refs:
        row = rows.setdefault((r["model"], r["series"]), {"model": r["model"], "measure": r["series"]})
        row[f"n={r['budget']}"] = r["accuracy"]
    cols = ["model", "measure"] + [f"n={b}" for b in sorted({r["budget"] for r in refs})]
    return ("Measures that read the grades, not runnable arms: oracle_pass_at_n (right if any of n samples is "
            "right: an upper bound no selector reaches) and g_pass_τ (G-Pass@n: at least τ of n samples right). "
            "Dashed in the figures.\n\n" + table([rows[k] for k in sorted(rows, key=_pass_first)], cols))


def _pass_first(key: tuple) -> tuple:
    model, measure = key
    return model, not measure.startswith("oracle"), measure


def main_series(data: dict) -> list[str]:
    """The main panel's arms, in order: each model's Pareto arms, then the rules the runs asked for."""
    front = [{"model": model, **r} for model, rows in data["pareto"].items() for r in rows]
    return list(dict.fromkeys(series_label(r) for r in front + data.get("asked", [])))


def sections(data: dict) -> list[tuple[str, str, list[str]]]:
    """(title, Markdown body, figure names) in report order: the answer first, then warnings, then the rest."""
    marks = data.get("incomplete", {})
    out = [(ANSWER, answer(data), [])]
    if data.get("warnings"):
        out.append((WARNINGS, "".join(f"- {w}\n" for w in data["warnings"]) + "\n", []))
    out += _curve_sections(data)
    if data.get("comparisons"):
        out.append(("Each series against the baseline at the same budget",
                    "Paired difference in accuracy over the same problems with its 95% interval; verdict "
                    "better/worse only when the interval excludes 0.\n\n" +
                    table(data["comparisons"], CMP_COLS, "difference"), []))
    out += [_optimal_section(data[kind], kind) for kind in ("oracle", "predicted") if data[kind]]
    if data.get("calibration") or data.get("overoptimisation"):
        out.append(("Verifier diagnostics", _diagnostics(data), ["calibration", "overoptimisation"]))
    if data["exchange"]:
        note = ("Smaller model with test-time compute against the larger model greedy at matched total FLOPs "
                "(pretraining + inference), for R = D_inference / D_pretrain. Bins are the small model's.\n\n")
        out.append(("Pretraining vs test-time FLOPs (Snell et al.)", note + table(data["exchange"], EX_COLS),
                    ["exchange"]))
    if len(plots.panels(data["curves"], main_series(data))) > 1:
        out.append(("More series", "The series not in the main panel: one panel per model and pool (the tag in "
                    "parentheses names what differs in that run's config), with the pool's pass@n dashed; then the "
                    "reference measures not drawn yet.\n\n", ["curves_more"]))
    out.append(("Runs", "".join(f"- {r}" + (f" (**incomplete**: {marks[r]})" if r in marks else "") + "\n"
                                for r in data["runs"]) + "\n", []))
    out.append(("Glossary", "".join(f"- **{term}**: {text}\n" for term, text in GLOSSARY) + "\n", []))
    return out


def _curve_sections(data: dict) -> list[tuple[str, str, list[str]]]:
    """The curves: accuracy vs FLOPs with the table of every runnable arm, the references, per level, vs tokens."""
    arms = [r for r in data["curves"] if r["level"] == "all" and not is_measure(r["selection"])]
    out = [("Accuracy vs FLOPs", f"Main panel: each model's Pareto arms and the rules the runs asked for (at most "
            f"{plots.MOST} series), each arm its own colour and marker, numbers on the points their budgets, "
            "light bands 95% intervals over problems; dashed: pass@n of the pool, a reference; grey step: the "
            "Pareto frontier. Every other series is under More series. Table: every runnable arm, ordered by "
            "accuracy; click a header to sort.\n\n" + table(arms, CURVE_COLS, "accuracy"), ["curves"])]
    if any(is_measure(r["selection"]) for r in data["curves"]):
        out.append(("Reference measures", references(data["curves"]), []))
    out.append(("Accuracy vs FLOPs per difficulty level", "The main panel's series, one panel per level of the task's "
                "own difficulty.\n\n", ["levels"]))
    out.append(("Accuracy vs generated tokens", "The main panel's series.\n\n", ["tokens"]))
    return out


def _optimal_section(rows: list[dict], kind: str) -> tuple[str, str, list[str]]:
    """The compute-optimal strategy by `kind` ("oracle" or "predicted") difficulty: how it was chosen, its table."""
    note = ("Bins of pass@1 from the sample pool (1 = easiest). " if kind == "oracle" else
            "Bins of the verifier's mean score over a 4-sample probe, probe FLOPs added to every arm. ")
    note += ("Per bin, the most accurate arm costing no more than the baseline on those problems is chosen "
             "on one half of the problems and scored on the other (2-fold); gain = held-out accuracy minus "
             "the baseline's, with its paired 95% interval; fixed_accuracy (row all) = the best single "
             "arm chosen the same way without bins. budget_flops = the baseline's mean FLOPs. Where the "
             "gain's interval does not exclude 0 the policy is not shown as compute-optimal (see "
             "Warnings).\n\n")
    return f"Compute-optimal strategy by {kind} difficulty", note + table(rows, OPT_COLS), [f"{kind}_policy", kind]


def _diagnostics(data: dict) -> str:
    """The verifier diagnostics: calibration (ECE, AUROC overall and per level) and over-optimisation tables."""
    body = ("Calibration of each verifier's scores against the grades of the candidates it scored: expected "
            "calibration error over 10 score bins (the reliability diagram), AUROC overall and within each "
            "difficulty level (ranking power beyond difficulty). Over-optimisation: best-of-n by the verifier "
            "against pass@n as n grows; a marked peak is where a larger n starts doing worse.\n\n")
    rows = [{**r, "auroc_by_level": ", ".join(f"{k}: {'-' if v is None else f'{v:.3f}'}"
                                              for k, v in r["auroc_by_level"].items())}
            for r in data.get("calibration", [])]
    body += table(rows, CAL_COLS, "auroc") if rows else ""
    over = [{**r, "n": r["n"], "selected_accuracy": [round(a, 3) for a in r["selected_accuracy"]],
             "pass_at_n": [None if a is None else round(a, 3) for a in r["pass_at_n"]]}
            for r in data.get("overoptimisation", [])]
    return body + (table(over, OVER_COLS) if over else "")


def figures(data: dict) -> dict[str, object]:
    """name -> matplotlib figure, for the figures this report has data for."""
    groups = plots.panels(data["curves"], main_series(data))
    main = groups[0][1]
    figs = {"curves": plots.curves(data["curves"], data["pareto"], labels=main),
            "levels": plots.levels(data["curves"], labels=main),
            "tokens": plots.curves(data["curves"], x="gen_tokens_per_problem", labels=main)}
    if len(groups) > 1:
        figs["curves_more"] = plots.more(data["curves"], groups[1:])
    for kind in ("oracle", "predicted"):
        if data[kind]:
            figs[f"{kind}_policy"] = plots.policy(data[kind], kind)
            figs[kind] = plots.optimal(data[kind])
    if any(r["bins"] for r in data.get("calibration", [])):
        figs["calibration"] = plots.calibration(data["calibration"])
    if data.get("overoptimisation"):
        figs["overoptimisation"] = plots.overoptimisation(data["overoptimisation"])
    if data["exchange"]:
        figs["exchange"] = plots.exchange(data["exchange"])
    cost = data.get("cost", "FLOPs")
    for fig in figs.values() if cost != "FLOPs" else ():  # another cost axis: every "FLOPs" label says which
        for ax in fig.axes:
            ax.set_xlabel(ax.get_xlabel().replace("FLOPs", cost))
            ax.set_ylabel(ax.get_ylabel().replace("FLOPs", cost))
    return figs


def _fold(data: dict) -> str:
    n = len(data["warnings"])
    return f"{n} warning{'s' * (n != 1)} (click to show)"


def write(data: dict, out_dir: Path) -> Path:
    """Write report.md, report.html, report.json, the figures and the policy files into `out_dir`."""
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for name, fig in figures(data).items():
        for fmt in plots.FORMATS:
            blob = plots.save(fig, fmt)
            write_atomic(out_dir / f"{name}.{fmt}", blob)
            if fmt == "png":
                pngs[name] = blob
        plt.close(fig)
    parts = sections(data)
    axis = data.get("cost", "FLOPs")
    if axis != "FLOPs":
        parts = [("Cost axis", f"Every cost below named FLOPs (columns, budgets, figures) is read in **{axis}** "
                               f"(ttc.analysis.costs).\n\n", [])] + parts
    md = "# ttc report\n\n" + "".join(
        f"## {t}\n\n" + "".join(f"![{t}]({img}.png)\n\n" for img in imgs if img in pngs) + body
        for t, body, imgs in parts)
    write_atomic(out_dir / "report.md", md)
    convert = markdown.Markdown(extensions=["tables"])
    page = TEMPLATE.render(sections=[{
        "title": t, "html": Markup(convert.reset().convert(body)),
        "css": "warn" if t == WARNINGS else "", "fold": _fold(data) if t == WARNINGS else "",
        "images": [base64.b64encode(pngs[i]).decode() for i in imgs if i in pngs]} for t, body, imgs in parts])
    write_atomic(out_dir / "report.html", page)
    write_atomic(out_dir / "report.json", json.dumps(data, indent=1, default=str) + "\n")
    for model, policy in data["policies"].items():
        write_atomic(out_dir / f"policy-{model}.json", json.dumps(policy, indent=1) + "\n")
    return out_dir
