"""`ttc view RUN_DIR... --out DIR`: a self-contained page that shows where a search went, problem by problem.

`DIR/index.html` opens from `file://` with no server. Browsers refuse `fetch` of local files there, so each
run's per-problem data is a small script, `DIR/data/rJ/KEY.js`, added to the page when the problem is opened
(lazily: the page itself holds only the problem list). `index.html#problem=ID` opens problem ID. Per problem:
the prompt, the reference, every candidate (answer, score, right, selected) and the search tree as SVG, one
column per run (two runs on the same problems side by side). Nodes (class `node`) are coloured by step score
(red 0 to green 1, grey unscored); pruned and resampled branches are faded; the path to the selected answer
is drawn thick and blue, the paths to right answers green; clicking a node shows its text and numbers. A run
without a recorded tree (best-of-n, majority) is drawn as the root with its candidates as leaves. The list
filters by level, right/wrong, strategy, and selection failures (a right answer was in the pool, a wrong one
selected).

Reads run directories a problem at a time (samples.jsonl through SampleStream, trees.jsonl through
read_trees); the layout and the SVG are made here (leaves left to right in depth-first order, a parent over the
middle of its children, a row per round), the same SVG the W&B trees table shows (ttc.harness.wandb_log).
Hand-written, ~50 lines: a JS drawing library would have to be vendored for the page to work offline, and
Graphviz's binaries are not installed here.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
from pathlib import Path

from ttc.contracts.rundir import SampleStream, read_record, read_trees
from ttc.contracts.trees import path_to


def key(problem_id: str) -> str:
    """A problem's file name: a digest of its id (ids may hold any character)."""
    return hashlib.sha1(problem_id.encode()).hexdigest()[:16]


def star(lines: list[dict]) -> list[dict]:
    """The tree of a run that recorded none: the root and each candidate as a leaf, scored by its verifier."""
    return [{"id": 0, "parent": None, "round": -1, "text": "", "score": None, "fate": "root"}] + [
        {"id": k + 1, "parent": 0, "round": 0, "text": x["text"], "score": x["verifier_score"], "fate": "completed",
         "candidates": [k]} for k, x in enumerate(lines)]


def layout(nodes: list[dict]) -> dict[int, tuple[float, int]]:
    """Node id -> (x, row): leaves in depth-first order at x = 0, 1, ...; a parent over its children's middle."""
    children: dict[int, list[int]] = {}
    for node in nodes[1:]:
        children.setdefault(node["parent"], []).append(node["id"])
    out: dict[int, tuple[float, int]] = {}
    leaves = 0
    stack: list[tuple[int, int, bool]] = [(0, 0, False)]
    while stack:  # iterative post-order: a deep chain must not hit Python's recursion limit
        node, row, seen = stack.pop()
        kids = children.get(node, [])
        if not kids:
            out[node], leaves = (float(leaves), row), leaves + 1
        elif seen:
            out[node] = ((out[kids[0]][0] + out[kids[-1]][0]) / 2, row)
        else:
            stack.append((node, row, True))
            stack += [(k, row + 1, False) for k in reversed(kids)]
    return out


def problem_data(lines: list[dict], tree: list[dict] | None) -> dict:
    """What the page shows of one run's problem: prompt, reference, candidates, and the tree laid out with the
    paths to the selected and to the right candidates marked."""
    nodes = tree if tree else star(lines)
    at = {k: n["id"] for n in nodes for k in n.get("candidates", [])}
    chosen = next((x["candidate"] for x in lines if x["selected"]), None)
    picked = set(path_to(nodes, at[chosen])) if chosen in at else set()
    right = {i for x in lines if x["correct"] and x["candidate"] in at for i in path_to(nodes, at[x["candidate"]])}
    places = layout(nodes)
    drawn = [{**{k: v for k, v in n.items() if k != "text"}, "x": places[n["id"]][0], "row": places[n["id"]][1],
              "on": (n["id"] in picked) * 1 + (n["id"] in right) * 2} for n in nodes]
    return {"prompt": lines[0].get("prompt", ""), "reference": lines[0].get("reference", ""), "recorded": bool(tree),
            "candidates": [{"answer": x["answer"], "score": x["verifier_score"], "correct": x["correct"],
                            "selected": x["selected"], "tokens": x["generated_tokens"]} for x in lines],
            "texts": [n["text"] for n in nodes], "nodes": drawn, "svg": svg(drawn)}


def colour(score: float | None) -> str:
    """A step score's colour: red (0) to green (1); grey when unscored."""
    if score is None:
        return "#bbb"
    return f"hsl({round(120 * min(1.0, max(0.0, score)))},70%,45%)"


def svg(drawn: list[dict], dx: float = 16, dy: float = 46, pad: float = 14) -> str:
    """The laid-out tree as SVG (the page's and W&B's): edges, then nodes (class `node`, `data-id`; squares for
    candidates, circles for steps); faded where pruned or resampled away, the selected path blue, right paths
    green. Styled inline, so it reads the same outside the page."""
    pos = {n["id"]: (pad + n["x"] * dx + dx / 2, pad + n["row"] * dy + 6) for n in drawn}
    width = (max(n["x"] for n in drawn) + 1) * dx + 2 * pad
    height = (max(n["row"] for n in drawn) + 1) * dy + 2 * pad
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}">']
    for n in drawn[1:]:
        (x1, y1), (x2, y2) = pos[n["parent"]], pos[n["id"]]
        gone = n["fate"] in ("pruned", "resampled")
        stroke, w = ("#1f5fd6", 3.5) if n["on"] & 1 else ("#1a7f37", 2.5) if n["on"] & 2 else ("#999", 1)
        out.append(f'<line class="edge{" pruned" if gone else ""}" x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" '
                   f'stroke="{stroke}" stroke-width="{w}" opacity="{0.25 if gone else 1}"/>')
    for n in drawn:
        x, y = pos[n["id"]]
        gone = n["fate"] in ("pruned", "resampled")
        cls = "node" + (" pruned" if gone else "") + (" picked" if n["on"] & 1 else "")
        look = (f'class="{cls}" data-id="{n["id"]}" fill="{colour(n["score"])}" opacity="{0.25 if gone else 1}" '
                f'stroke="{"#1f5fd6" if n["on"] & 1 else "#555"}" stroke-width="{2.5 if n["on"] & 1 else 0.5}"')
        title = f'<title>node {n["id"]} {n["fate"]}{"" if n["score"] is None else " score " + str(n["score"])}</title>'
        out.append(f'<rect x="{x - 5:g}" y="{y - 5:g}" width="10" height="10" {look}>{title}</rect>'
                   if n["fate"] == "completed" else f'<circle cx="{x:g}" cy="{y:g}" r="5" {look}>{title}</circle>')
    return "".join(out + ["</svg>"])


def write_run(run: Path, j: int, out: Path) -> tuple[dict, dict[str, dict]]:
    """Run `run`'s per-problem scripts under out/data/rJ; (its description, problem id -> its list entry)."""
    record, trees = read_record(run), read_trees(run)
    meta = record.get("meta", {})
    folder = out / "data" / f"r{j}"
    folder.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict] = {}
    for lines in SampleStream(run):
        pid = lines[0]["problem_id"]
        data = problem_data(lines, trees.get(pid))
        (folder / f"{key(pid)}.js").write_text(f"ttcData({j}, {json.dumps(pid)}, {json.dumps(data)});\n")
        entries[pid] = {"level": lines[0]["difficulty"], "right": any(x["selected"] and x["correct"] for x in lines),
                        "pool": any(x["correct"] for x in lines), "n": len(lines), "nodes": len(data["nodes"])}
    return {"name": run.name, "strategy": meta.get("strategy", "?"), "generator": meta.get("generator", "?"),
            "verifier": meta.get("verifier", "?"), "trees": bool(trees)}, entries


def write(runs: list[Path], out: Path) -> int:
    """The page for `runs` in `out`; the number of problems listed."""
    described, problems = [], {}
    for j, run in enumerate(runs):
        about, entries = write_run(run, j, out)
        described.append(about)
        for pid, entry in entries.items():
            problems.setdefault(pid, {"id": pid, "key": key(pid), "level": entry["level"], "runs": {}})["runs"][j] = entry
    listed = sorted(problems.values(), key=lambda p: (p["level"] is None, p["level"] or 0, p["id"]))
    index = json.dumps({"runs": described, "problems": listed})
    page = (Path(__file__).with_name("view.html")).read_text()
    title = " vs ".join(html.escape(f"{r['strategy']} ({r['name']})") for r in described)
    index = index.replace("<", "\\u003c")  # no markup inside the page's script, whatever an id holds
    (out / "index.html").write_text(page.replace("{{TITLE}}", title).replace("{{INDEX}}", index))
    return len(listed)


def main(argv: list[str]) -> None:
    """`ttc view RUN_DIR... --out DIR`."""
    parser = argparse.ArgumentParser(prog="ttc view", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (two or more: side by side)")
    parser.add_argument("--out", default=None, help="output directory (default: view/ in the first run)")
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    out = Path(args.out) if args.out else runs[0] / "view"
    out.mkdir(parents=True, exist_ok=True)
    count = write(runs, out)
    print(f"view: {out / 'index.html'} ({count} problems, {len(runs)} runs); open index.html#problem=ID")
