"""A fingerprint of every strategy's record on a fixed slice, to show a refactor changed no output.

    python scripts/strategy_snapshot.py OUT_DIR            # runs each strategy into OUT_DIR/NAME, writes OUT_DIR/digests.json
    python scripts/strategy_snapshot.py --compare A B      # the strategies whose records differ between two snapshots

Each strategy runs on the tiny world (1 problem per level, so 5 problems) with the bundled tiny models, W&B off.
`samples.jsonl` and `curves.csv` are digested after dropping what a clock measures (`wall_s` anywhere in a sample
line); everything else (texts, seeds, scores, FLOPs, grades, curves) must match to the byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {  # name: overrides
    "greedy": ["strategy=greedy"],
    "best_of_n": ["strategy=best_of_n"],
    "majority": ["strategy=majority"],
    "prm_beam": ["strategy=prm_beam"],
    "dvts": ["strategy=dvts"],
    "lookahead": ["strategy=lookahead"],
    "rebase": ["strategy=rebase"],
    "particle_filter": ["strategy=particle_filter"],
    "mcts": ["strategy=mcts"],
    "tot": ["strategy=tot"],
    "revision": ["strategy=revision"],
    "budget_forcing": ["strategy=budget_forcing"],
    "speculative": ["strategy=greedy", "generator=speculative"],
    "contrastive": ["strategy=greedy", "generator=contrastive"],
}
CLOCKS = {"wall_s"}


def _unclocked(value):
    """A sample line's value without the fields a clock measures."""
    if isinstance(value, dict):
        return {k: _unclocked(v) for k, v in value.items() if k not in CLOCKS}
    if isinstance(value, list):
        return [_unclocked(v) for v in value]
    return value


def digest(run: Path) -> dict[str, str]:
    """sha256 of the run's sample lines (clock fields dropped) and of its curves.csv."""
    lines = [json.dumps(_unclocked(json.loads(x)), sort_keys=True) for x in (run / "samples.jsonl").read_text().splitlines()]
    return {"samples": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
            "curves": hashlib.sha256((run / "curves.csv").read_bytes()).hexdigest(), "lines": str(len(lines))}


def snapshot(out: Path) -> None:
    """Run every strategy into OUT/NAME and write OUT/digests.json."""
    ttc = Path(sys.executable).with_name("ttc")
    digests = {}
    for name, overrides in RUNS.items():
        run = out / name
        subprocess.run([str(ttc), *overrides, "task.per_level=1", "logger=none", f"hydra.run.dir={run}"],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        digests[name] = digest(run)
        print(name, digests[name])
    (out / "digests.json").write_text(json.dumps(digests, indent=1))


def compare(a: Path, b: Path) -> int:
    """Print the strategies whose digests differ; 1 if any does."""
    left, right = (json.loads((p / "digests.json").read_text()) for p in (a, b))
    differ = [n for n in RUNS if left.get(n) != right.get(n)]
    print("identical" if not differ else "differ: " + ", ".join(differ))
    return 1 if differ else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--compare", type=Path, nargs=2)
    args = parser.parse_args()
    sys.exit(compare(*args.compare) if args.compare else snapshot(args.out))
