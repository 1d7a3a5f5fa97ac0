"""What recording search trees costs (a benchmark, not a test): whole runs with `trees=true` against `trees=false`.

    python bench/bench_trees.py [--strategies prm_beam,rebase,mcts] [--ns 16,64] [--repeats 3] [--per-level 2]

On the tiny world with the tiny PRM, for each strategy and budget: runs with and without trees.jsonl,
interleaved pair by pair in this process (one torch thread), each in a fresh directory; prints the median of
the per-pair wall ratios (goal <= 1.03), and the bytes of trees.jsonl against samples.jsonl (goal <= 1.5).
The strategies build their trees either way (a few dict operations a node); `trees` decides whether they are
written, so the ratio is the cost of the record. Then the page: `ttc view` of the largest run, its files' bytes.
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


def run(path: Path, strategy: str, n: int, trees: bool, per_level: int) -> float:
    """One whole run; its wall seconds."""
    extra = ["strategy.width=4"] if strategy == "prm_beam" else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"strategy={strategy}", f"{BUDGET[strategy]}={n}", *extra,
                                                       "verifier=tiny_prm", f"task.per_level={per_level}",
                                                       "logger=none", f"trees={str(trees).lower()}"])
    start = time.perf_counter()
    execute(cfg, path, quiet=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="prm_beam,rebase,mcts")
    parser.add_argument("--ns", default="16,64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-level", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_trees_"))
    largest: tuple[int, Path] | None = None
    for strategy in args.strategies.split(","):
        for n in map(int, args.ns.split(",")):
            ratios, on_s, off_s = [], [], []
            for r in range(args.repeats):
                on, off = root / f"{strategy}-{n}-on-{r}", root / f"{strategy}-{n}-off-{r}"
                if r % 2:  # alternate which goes first
                    t_off = run(off, strategy, n, False, args.per_level)
                    t_on = run(on, strategy, n, True, args.per_level)
                else:
                    t_on = run(on, strategy, n, True, args.per_level)
                    t_off = run(off, strategy, n, False, args.per_level)
                on_s, off_s, ratios = on_s + [t_on], off_s + [t_off], ratios + [t_on / t_off]
            trees = (on / "trees.jsonl").stat().st_size
            samples = (on / "samples.jsonl").stat().st_size
            print(f"{strategy} n={n}: with trees {statistics.median(on_s):.2f} s, without {statistics.median(off_s):.2f} s,"
                  f" ratio {statistics.median(ratios):.3f} (median of {args.repeats} pairs); trees.jsonl {trees:,} B ="
                  f" {trees / samples:.2f} x samples.jsonl ({samples:,} B)", flush=True)
            if largest is None or trees > largest[0]:
                largest = (trees, on)
    if largest is not None:
        from ttc.analysis.view import main as view

        out = root / "page"
        start = time.perf_counter()
        view([str(largest[1]), "--out", str(out)])
        files = list(out.rglob("*"))
        size = sum(f.stat().st_size for f in files if f.is_file())
        print(f"ttc view of {largest[1].name}: {time.perf_counter() - start:.2f} s, index.html "
              f"{(out / 'index.html').stat().st_size:,} B, {len(files)} files, {size:,} B in all")


if __name__ == "__main__":
    main()
