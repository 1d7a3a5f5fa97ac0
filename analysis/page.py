"""Write a built report (`ttc.analysis.report.build`): `report.md`, `report.html`, the figures as PNG, PDF and
SVG, `report.json` (every table) and one `policy-MODEL.json` per model for `strategy=adaptive`.

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
    ("oracle_pass_at_n", "pass@n: right if any of n samples is right; an upper bound no selector reaches"),
    ("interval", "95% BCa bootstrap over problems, paired: every row resamples the same problems"),
]

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
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:0.3em 0.8em}
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
{% endfor %}<div class="{{ s.css }}">{{ s.html }}</div></section>
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


def sections(data: dict) -> list[tuple[str, str, list[str]]]:
    """(title, Markdown body, figure names) in report order."""
    marks = data.get("incomplete", {})
    out = []
    if data.get("warnings"):
        out.append(("Warnings", "".join(f"- {w}\n" for w in data["warnings"]) + "\n", []))
    out.append(("Runs", "".join(f"- {r}" + (f" (**incomplete**: {marks[r]})" if r in marks else "") + "\n"
                                for r in data["runs"]) + "\n", []))
    curves = [r for r in data["curves"] if r["level"] == "all"]
    out.append(("Accuracy vs FLOPs", "Lines are series (colour: model, strategy and verifier; line style: selection rule), "
                "numbers on the points their budgets, bands 95% intervals over problems. Table ordered by "
                "accuracy; click a header to sort.\n\n" + table(curves, CURVE_COLS, "accuracy"), ["curves"]))
    out.append(("Accuracy vs FLOPs per difficulty level", "One panel per level of the task's own difficulty.\n\n",
                ["levels"]))
    out.append(("Accuracy vs generated tokens", "", ["tokens"]))
    front = "".join(f"**{m}**: " + " → ".join(f"{r['series']}@{r['budget']} ({r['accuracy']:.3f}, "
                                               f"{r['flops_per_problem']:.3g})" for r in rows) + "\n\n"
                    for m, rows in data["pareto"].items())
    out.append(("Pareto frontier (accuracy, FLOPs per problem)", front, []))
    if data.get("comparisons"):
        out.append(("Each series against the baseline at the same budget",
                    "Paired difference in accuracy over the same problems with its 95% interval; verdict "
                    "better/worse only when the interval excludes 0.\n\n" +
                    table(data["comparisons"], CMP_COLS, "difference"), []))
    for kind in ("oracle", "predicted"):
        rows = data[kind]
        if rows:
            note = ("Bins of pass@1 from the sample pool (1 = easiest). " if kind == "oracle" else
                    "Bins of the verifier's mean score over a 4-sample probe, probe FLOPs added to every arm. ")
            note += ("Per bin, the most accurate arm costing no more than the baseline on those problems is chosen "
                     "on one half of the problems and scored on the other (2-fold); gain = held-out accuracy minus "
                     "the baseline's, with its paired 95% interval; fixed_accuracy (row all) = the best single "
                     "arm chosen the same way without bins. budget_flops = the baseline's mean FLOPs. Where the "
                     "gain's interval does not exclude 0 the policy is not shown as compute-optimal (see "
                     "Warnings).\n\n")
            out.append((f"Compute-optimal strategy by {kind} difficulty", note + table(rows, OPT_COLS),
                        [f"{kind}_policy", kind]))
    if data.get("calibration") or data.get("overoptimisation"):
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
        body += table(over, OVER_COLS) if over else ""
        out.append(("Verifier diagnostics", body, ["calibration", "overoptimisation"]))
    if data["exchange"]:
        note = ("Smaller model with test-time compute against the larger model greedy at matched total FLOPs "
                "(pretraining + inference), for R = D_inference / D_pretrain. Bins are the small model's.\n\n")
        out.append(("Pretraining vs test-time FLOPs (Snell et al.)", note + table(data["exchange"], EX_COLS),
                    ["exchange"]))
    out.append(("Glossary", "".join(f"- **{term}**: {text}\n" for term, text in GLOSSARY) + "\n", []))
    return out


def figures(data: dict) -> dict[str, object]:
    """name -> matplotlib figure, for the figures this report has data for."""
    figs = {"curves": plots.curves(data["curves"], data["pareto"]), "levels": plots.levels(data["curves"]),
            "tokens": plots.curves(data["curves"], x="gen_tokens_per_problem")}
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
    return figs


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
    md = "# ttc report\n\n" + "".join(
        f"## {t}\n\n" + "".join(f"![{t}]({img}.png)\n\n" for img in imgs if img in pngs) + body
        for t, body, imgs in parts)
    write_atomic(out_dir / "report.md", md)
    convert = markdown.Markdown(extensions=["tables"])
    page = TEMPLATE.render(sections=[{
        "title": t, "html": Markup(convert.reset().convert(body)),
        "css": "warn" if t == "Warnings" else "",
        "images": [base64.b64encode(pngs[i]).decode() for i in imgs if i in pngs]} for t, body, imgs in parts])
    write_atomic(out_dir / "report.html", page)
    write_atomic(out_dir / "report.json", json.dumps(data, indent=1, default=str) + "\n")
    for model, policy in data["policies"].items():
        write_atomic(out_dir / f"policy-{model}.json", json.dumps(policy, indent=1) + "\n")
    return out_dir
