"""Syntax pruning and rejection on HumanEval with the real model: SmolLM2-135M-Instruct (chat mode, the reply's
fenced block run against the hidden tests in the sandbox), best-of-n sampling with and without
`strategy.syntax=python_fenced`, each arm a normal resumable ttc run under OUT (default runs/constrained_code).

Prints per arm: share of samples whose program parses, pass@1 (mean over samples) and pass@n (oracle), the
accuracy of the first sample kept by rejection (invalid or answerless samples set aside), generated tokens and
FLOPs per problem. Usage: python scripts/constrained_code.py [OUT] [LIMIT] [N]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from hydra import compose, initialize_config_dir

from ttc.generators.constraints import checked_source, python_status
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def arm(out: Path, name: str, extra: list[str], limit: int, n: int) -> dict[str, float]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=smollm2_humaneval", "logger=none", f"task.limit={limit}", f"strategy.n={n}",
            "strategy.selection=first", "strategy.reject=true", "strategy.max_tokens=256", *extra])
    execute(cfg, out / name, quiet=True)
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for line in (out / name / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        by_problem[row["problem_id"]].append(row)
    lines = [x for rows in by_problem.values() for x in rows]
    parses = [x["finish_reason"] != "invalid" and _parses(x["text"]) for x in lines]
    return {"samples": len(lines), "parses": sum(parses) / len(lines),
            "pass@1": sum(x["correct"] for x in lines) / len(lines),
            f"pass@{n}": sum(any(x["correct"] for x in rows) for rows in by_problem.values()) / len(by_problem),
            "first kept": sum(next(x for x in rows if x["selected"])["correct"] for rows in by_problem.values())
            / len(by_problem),
            "tokens/problem": sum(x["generated_tokens"] for x in lines) / len(by_problem),
            "flops/problem": sum(x["flops"] for x in lines) / len(by_problem)}


def _parses(text: str) -> bool:
    """Whether the reply's fenced program (closed or not) is a complete program."""
    source = checked_source("", text if text.endswith("\n") else text + "\n", "python_fenced")
    return source is not None and python_status(source.rstrip("`\n") + "\n") == "complete"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/constrained_code")
    limit, n = (int(sys.argv[2]) if len(sys.argv) > 2 else 20), (int(sys.argv[3]) if len(sys.argv) > 3 else 4)
    rows = {"free": arm(out, "free", [], limit, n),
            "syntax-pruned": arm(out, "pruned", ["strategy.syntax=python_fenced"], limit, n)}
    keys = list(next(iter(rows.values())))
    print("| arm | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |")


if __name__ == "__main__":
    main()
