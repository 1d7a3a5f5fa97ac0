"""What recording search trees costs (a benchmark, not a test): whole runs with `trees=true` against `trees=false`.

    python bench/bench_trees.py [--strategies prm_beam,rebase,mcts] [--ns 16,64] [--repeats 3] [--per-level 2]

On the tiny world with the tiny PRM, for each strategy and budget: runs with and without trees.jsonl,
interleaved pair by pair in this process (one torch thread), each in a fresh directory; prints the median of
the per-pair wall ratios (goal <= 1.03), the share of the run's wall spent inside the recording code itself
(Grove's methods and the tree lines' writes, timed directly: the paired ratio is at the mercy of a shared
machine's noise), and the bytes of trees.jsonl against samples.jsonl (goal <= 1.5).
The strategies build their trees either way (a few dict operations a node); `trees` decides whether they are
written, so the ratio is the cost of the record. Then the page: the run with the largest trees repeated to
`--page-problems` problems, `ttc view` of it (wall, bytes) and Chromium's load of one problem.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hydra import compose, initialize_config_dir  # noqa: E402

from ttc.harness.cli import CONF_DIR  # noqa: E402
from ttc.harness.run import execute  # noqa: E402

BUDGET = {"prm_beam": "strategy.n", "rebase": "strategy.n", "mcts": "strategy.simulations"}


SPENT = [0.0]  # seconds inside the recording code (Grove's methods, the tree lines' writes) of the last run


def timed(owner, name: str) -> None:
    """Wrap owner.name so the seconds spent in it add to SPENT."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[0] += time.perf_counter() - start
    setattr(owner, name, wrapper)


def instrument() -> None:
    """Time what recording trees costs directly: every Grove method and RunStore.append_tree."""
    from ttc.contracts.trees import Grove
    from ttc.harness.store import RunStore

    for name in ("add", "score", "fate", "log", "tree"):
        timed(Grove, name)
    timed(RunStore, "append_tree")


def run(path: Path, strategy: str, n: int, trees: bool, per_level: int) -> float:
    """One whole run; its wall seconds."""
    extra = ["strategy.width=4"] if strategy == "prm_beam" else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"strategy={strategy}", f"{BUDGET[strategy]}={n}", *extra,
                                                       "verifier=tiny_prm", f"task.per_level={per_level}",
                                                       "logger=none", f"trees={str(trees).lower()}"])
    SPENT[0] = 0.0
    start = time.perf_counter()
    execute(cfg, path, quiet=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="prm_beam,rebase,mcts")
    parser.add_argument("--ns", default="16,64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-level", type=int, default=2)
    parser.add_argument("--page-problems", type=int, default=500, help="problems in the page measured at the end")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_trees_"))
    instrument()
    largest: tuple[int, Path] | None = None
    for strategy in args.strategies.split(","):
        for n in map(int, args.ns.split(",")):
            ratios, on_s, off_s, shares = [], [], [], []
            for r in range(args.repeats):
                on, off = root / f"{strategy}-{n}-on-{r}", root / f"{strategy}-{n}-off-{r}"
                if r % 2:  # alternate which goes first
                    t_off = run(off, strategy, n, False, args.per_level)
                    t_on = run(on, strategy, n, True, args.per_level)
                    shares.append(SPENT[0] / t_on)
                else:
                    t_on = run(on, strategy, n, True, args.per_level)
                    shares.append(SPENT[0] / t_on)
                    t_off = run(off, strategy, n, False, args.per_level)
                on_s, off_s, ratios = on_s + [t_on], off_s + [t_off], ratios + [t_on / t_off]
            trees = (on / "trees.jsonl").stat().st_size
            samples = (on / "samples.jsonl").stat().st_size
            print(f"{strategy} n={n}: with trees {statistics.median(on_s):.2f} s, without {statistics.median(off_s):.2f} s,"
                  f" ratio {statistics.median(ratios):.3f} (median of {args.repeats} pairs); inside the recording code "
                  f"{100 * statistics.median(shares):.2f}% of the run's wall; trees.jsonl {trees:,} B ="
                  f" {trees / samples:.2f} x samples.jsonl ({samples:,} B)", flush=True)
            if largest is None or trees > largest[0]:
                largest = (trees, on)
    if largest is not None:
        page(largest[1], root, args.page_problems)


def scaled(run: Path, problems: int, out: Path) -> Path:
    """`run` copied to `problems` problems (its problems repeated under new ids), trees included."""
    import json
    import shutil

    from ttc.contracts.rundir import SampleStream, read_trees
    from ttc.contracts.samples import encode

    out.mkdir(parents=True)
    shutil.copy(run / "run.json", out / "run.json")
    blocks, trees = list(SampleStream(run)), read_trees(run)
    with open(out / "samples.jsonl", "w") as fh, open(out / "trees.jsonl", "w") as th:
        for i in range(problems):
            block = blocks[i % len(blocks)]
            pid = f"{block[0]['problem_id']}-{i}"
            fh.write(encode([{**x, "problem_id": pid, "problem_index": i} for x in block]))
            th.write(json.dumps({"problem_id": pid, "nodes": trees[block[0]["problem_id"]]}) + "\n")
    return out


def page(run: Path, root: Path, problems: int) -> None:
    """`ttc view` of `run` scaled to `problems` problems: its wall, its bytes, and Chromium's load of a problem
    (median of 3, interleaved with an empty page's, from which it is told apart)."""
    import shutil
    import subprocess

    from ttc.analysis.view import main as view
    from ttc.contracts.rundir import SampleStream

    big = scaled(run, problems, root / f"scaled-{problems}")
    out = root / "page"
    start = time.perf_counter()
    view([str(big), "--out", str(out)])
    wall = time.perf_counter() - start
    files = [f for f in out.rglob("*") if f.is_file()]
    print(f"ttc view of {problems} problems x {len(next(iter(SampleStream(big))))} candidates (from {run.name}): "
          f"{wall:.2f} s; index.html {(out / 'index.html').stat().st_size:,} B, {len(files)} files, "
          f"{sum(f.stat().st_size for f in files):,} B in all, largest problem file "
          f"{max(f.stat().st_size for f in files if f.suffix == '.js'):,} B", flush=True)
    browser = shutil.which("chromium")
    if browser is None:
        return
    blank = out / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>")
    first = next(iter(SampleStream(big)))[0]["problem_id"]
    times: dict[str, list[float]] = {"page": [], "blank": []}
    for _ in range(3):
        for name, url in (("page", (out / "index.html").as_uri() + f"#problem={first}"), ("blank", blank.as_uri())):
            start = time.perf_counter()
            subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", url],
                           capture_output=True, timeout=120)
            times[name].append(time.perf_counter() - start)
    page_s, blank_s = statistics.median(times["page"]), statistics.median(times["blank"])
    print(f"chromium --dump-dom of a problem: {page_s:.2f} s against {blank_s:.2f} s for an empty page "
          f"(+{page_s - blank_s:.2f} s; median of 3 interleaved)")


if __name__ == "__main__":
    main()
