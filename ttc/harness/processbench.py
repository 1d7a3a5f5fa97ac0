"""`ttc processbench verifier=NAME data=FILE|tiny [limit=N] [threshold=0.5] [delim=...]`: how well a step
verifier finds the first wrong step (ProcessBench, Zheng et al. 2024).

Each solution's steps are joined with `delim` (the verifier's step separator: "\\n\\n" for PRM adapters, "\\n"
for self-critique and the tiny PRM; a delimiter inside a step is replaced by a space so that the step count
holds) and scored once, every step (a verifier set to score only the newest step, as step search does,
scores all of them here); the predicted first wrong step is the first whose score is below `threshold` (-1 when
none is). Reported as ProcessBench does: accuracy on the solutions with an error (the index must match),
accuracy on the all-correct ones (-1 must be predicted), and their harmonic mean, F1. `data=tiny` uses the
tiny world's exactly-checked steps: for 200 problems one right solution and one with a wrong result at a
random step, labelled by `first_wrong_step`. Prints one JSON line.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.harness.resolvers import register
from ttc.harness.progress import RunBar
from ttc.harness.components import build, build_verifier
from ttc.tasks.files import iter_jsonl

KEYS = ("data", "limit", "threshold", "delim")


def tiny_rows(count: int = 200, seed: int = 0) -> list[dict]:
    """ProcessBench-shaped rows from the tiny world: problem, steps, label (first wrong step, 0-based, or -1)."""
    from ttc.tasks import arith

    rng, rows = random.Random(seed), []
    for i in range(count):
        p = arith.make_problem("test", 1 + i % 5, i // 5)
        steps = p.steps()
        texts = [s.text(k) for k, s in enumerate(steps, 1)]
        rows.append({"id": f"tiny-{i}", "prompt": arith.prompt(p), "steps": texts, "label": -1})
        at = rng.randrange(len(steps))
        bad = steps[:at] + [arith.Step(steps[at].left, steps[at].op, steps[at].right, steps[at].result + 1)]
        solution = arith.solution_text(bad)
        wrong = arith.first_wrong_step(p, solution)
        rows.append({"id": f"tiny-{i}-bad", "prompt": arith.prompt(p), "steps": solution.strip().split("\n")[:-1],
                     "label": wrong - 1})  # the steps without the answer line, as step verifiers see them
    return rows


def file_rows(path: Path) -> list[dict]:
    """ProcessBench JSONL rows (problem, steps, label), the problem as the prompt."""
    return [{"id": r.get("id", str(i)), "prompt": r["problem"], "steps": list(r["steps"]), "label": int(r["label"])}
            for i, (_, r) in enumerate(iter_jsonl(path, ("problem", "steps", "label"), field="data"))]


def predict(step_scores: list[float], threshold: float) -> int:
    """The first step scored below `threshold` (0-based), or -1."""
    return next((k for k, s in enumerate(step_scores) if s < threshold), -1)


def evaluate(rows: list[dict], predictions: list[int]) -> dict[str, float]:
    """ProcessBench's accuracies on erroneous and on correct solutions and their harmonic mean."""
    err = [p == r["label"] for r, p in zip(rows, predictions) if r["label"] >= 0]
    ok = [p == -1 for r, p in zip(rows, predictions) if r["label"] < 0]
    a = sum(err) / len(err) if err else 0.0
    b = sum(ok) / len(ok) if ok else 0.0
    return {"error_accuracy": round(a, 6), "correct_accuracy": round(b, 6),
            "f1": round(2 * a * b / (a + b), 6) if a + b else 0.0, "n_error": len(err), "n_correct": len(ok)}


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Hydra overrides (verifier, generator) and this command's own settings."""
    own = {k: v for k, _, v in (a.partition("=") for a in argv) if k in KEYS}
    overrides = [a for a in argv if a.partition("=")[0] not in KEYS]
    if "data" not in own or not any(a.startswith("verifier=") for a in overrides):
        raise ConfigError("usage: ttc processbench verifier=NAME data=FILE.jsonl|tiny [limit=N] [threshold=0.5]")
    bad = [a for a in overrides if not a.startswith(("verifier", "generator"))]
    if bad:
        raise ConfigError(f"ttc processbench takes verifier and generator settings only; {bad[0]} is not one")
    return overrides, own


def processbench_command(argv: list[str], conf_dir: Path) -> dict:
    """`ttc processbench ...`: score every solution, print (and return) the metrics."""
    if argv[:1] in (["-h"], ["--help"]):
        print("usage: " + __doc__.split("\n\n")[0].replace("`", ""))
        return {}
    overrides, own = parse(argv)
    try:
        limit, threshold = int(own.get("limit", 0)) or None, float(own.get("threshold", 0.5))
    except ValueError:
        raise ConfigError(f"limit={own.get('limit')} must be a whole number and threshold={own.get('threshold')} "
                          f"a number") from None
    delim = own.get("delim", "\n").encode().decode("unicode_escape")
    rows = tiny_rows() if own["data"] == "tiny" else file_rows(Path(own["data"]).expanduser())
    rows = rows[:limit]
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        register()
        cfg = compose(config_name="config", overrides=overrides)
    if cfg.verifier.get("last_step_only"):  # search scores the newest step only; here every step is needed
        cfg.verifier.last_step_only = False
    verifier = build_verifier(cfg, build(cfg.generator, "generator"))
    if verifier is None:
        raise ConfigError("ttc processbench needs a step verifier: verifier=tiny_prm, a PRM, or self_critique")
    solutions = [delim.join(s.replace(delim, " ") for s in r["steps"]) for r in rows]
    verdicts = scored(verifier, [r["prompt"] for r in rows], solutions)
    predictions, mismatched = [], 0
    for r, [v] in zip(rows, verdicts):
        scores = list(v.step_scores or (v.score,))
        mismatched += len(scores) != len(r["steps"])
        predictions.append(predict(scores, threshold))
    out = {"verifier": verifier.name, "data": own["data"], "rows": len(rows), "threshold": threshold,
           **evaluate(rows, predictions), "step_count_mismatches": mismatched}
    print(f"ttc processbench: {verifier.name} on {len(rows)} solutions: F1 {out['f1']:.3f} (error "
          f"{out['error_accuracy']:.3f}, correct {out['correct_accuracy']:.3f}); JSON below", file=sys.stderr)
    print(json.dumps(out))
    return out


def scored(verifier, prompts: list[str], solutions: list[str], chunk: int = 16) -> list:
    """The verifier's verdicts on every solution, `chunk` at a time, with progress on standard error (a scan of
    hundreds of solutions takes minutes on a CPU)."""
    bar = RunBar(len(solutions), 0, f"processbench [{verifier.name}]", unit="solutions")
    out = []
    for i in range(0, len(solutions), chunk):
        new = verifier.verify(prompts[i:i + chunk], [[s] for s in solutions[i:i + chunk]])
        out += new
        bar.n = len(out)
        bar.tokens += sum(v[0].tokens for v in new)
        bar.refresh()
    bar.close()
    return out
