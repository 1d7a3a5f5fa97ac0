"""Does revising help or hurt? Accuracy by attempt index and right/wrong transitions along chains.

    python -m ttc.analysis.sequential RUN_DIR [RUN_DIR...]

Reads the sample lines of revision runs (each candidate's `info` has its chain and attempt) and reports,
per difficulty, the accuracy of attempt k over all chains, and how often a revision turned a right
attempt wrong (right->wrong) or a wrong one right (wrong->right).
"""

from __future__ import annotations

import sys
from collections import defaultdict

from ttc.contracts.rundir import read_samples
from ttc.contracts.samples import SampleLine


def by_attempt(lines: list[SampleLine]) -> list[dict]:
    """Rows (difficulty, attempt, n, accuracy, right_to_wrong, wrong_to_right) over all chains."""
    chains: dict[tuple, dict[int, bool]] = defaultdict(dict)
    for x in lines:
        info = x.get("info") or {}
        if "attempt" in info:
            chains[(x["problem_id"], x["difficulty"], info["chain"])][info["attempt"]] = bool(x["correct"])
    stats: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, right, r->w, w->r
    for (_, diff, _), attempts in chains.items():
        for k, ok in attempts.items():
            for d in ("all", str(diff)):
                s = stats[(d, k)]
                s[0] += 1
                s[1] += ok
                if k > 0 and k - 1 in attempts:
                    s[2] += attempts[k - 1] and not ok
                    s[3] += (not attempts[k - 1]) and ok
    return [{"difficulty": d, "attempt": k, "n": s[0], "accuracy": round(s[1] / s[0], 4),
             "right_to_wrong": s[2], "wrong_to_right": s[3]}
            for (d, k), s in sorted(stats.items(), key=lambda kv: (kv[0][0] != "all", kv[0]))]


def format_rows(rows: list[dict]) -> str:
    """The by-attempt rows as a markdown table."""
    head = "| difficulty | attempt | chains | accuracy | right->wrong | wrong->right |\n|---|---|---|---|---|---|\n"
    return head + "".join(f"| {r['difficulty']} | {r['attempt']} | {r['n']} | {r['accuracy']:.3f} | "
                          f"{r['right_to_wrong']} | {r['wrong_to_right']} |\n" for r in rows)


def main(argv: list[str] | None = None) -> None:
    """`python -m ttc.analysis.sequential RUN_DIR...`: print the table of each run."""
    for run_dir in argv if argv is not None else sys.argv[1:]:
        print(f"{run_dir}\n{format_rows(by_attempt(read_samples(run_dir)))}")


if __name__ == "__main__":
    main()
