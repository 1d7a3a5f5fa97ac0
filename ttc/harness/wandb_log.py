"""Mirror a run to Weights & Biases, live while it runs and in full when it ends (derived output: the run
directory stays the record).

Keys are constant; identity lives in the config (task, generator, strategy, verifier, seed; `strategy.name`
and `verifier.name` are the names the run recorded, `none` without a verifier) and in the tables' columns,
never in key names:
- live, after every batch: `progress/problems`, `progress/accuracy` (running accuracy of the selected
  answers), `progress/flops`, `progress/generated_tokens`, `progress/problems_per_s`, `progress/eta_s`;
- at the end: `curves`, a tidy table with one row per model x series x strategy x selection x verifier x
  budget x level (every curves.csv column: FLOPs, tokens, accuracy and its interval), so any of those can be
  the x, y, colour or facet of a workspace panel; `accuracy_vs_flops`, a chart of every rule (each rule read
  off a pool and the run's own curve) against log10 FLOPs per problem; the run's own curve as history points
  `curve/accuracy`, `curve/ci_low`, `curve/ci_high`, `curve/gen_tokens` against `curve/flops_per_problem`, with
  the other cost axes beside it (`curve/kv_bytes_per_problem`, `curve/weight_bytes_per_problem`, and
  `curve/dollars_per_problem` where priced),
  so a panel can switch its x-axis;
  `problems`, a table of the selected answer per problem (the first 10,000 problems, W&B's row limit for a
  table; the summary's `problems_in_table` and `problems` say how many), never one row per sample; the
  summary's `accuracy`, `flops_per_problem` and `n_problems` at the run's full budget; for a search that
  recorded trees.jsonl, `trees`, a table with each problem's search tree as HTML media (the first 1,000
  problems; `trees_table`); the run directory as an artifact.
`name`, `group` (default: the sweep's name in a multirun), `job_type`, `tags` and `notes` are settable.
Offline runs of a sweep are written under SWEEP/wandb, so one printed `wandb sync` command uploads the sweep.
Mode: `logger.mode`, else $WANDB_MODE, else online when $WANDB_API_KEY is set and offline otherwise; an
online init that fails or outlasts `init_timeout` seconds falls back to offline with one warning line.
Mirroring never fails or changes a run: the run loop turns any W&B error into one warning line.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import TREES, SampleStream, read_trees

MODES = ("online", "offline", "disabled")
CURVE_KEYS = ("accuracy", "ci_low", "ci_high")
COST_KEYS = ("kv_bytes_per_problem", "weight_bytes_per_problem", "dollars_per_problem")  # other cost axes, logged
CHART_COLUMNS = ("series", "log10_flops_per_problem", "accuracy", "ci_low", "ci_high", "budget", "budget_unit")
TREE_ROWS = 1_000  # problems whose tree goes into the W&B trees table (HTML media: ~10-100 KB each)
TABLE_ROWS = 10_000  # W&B's row limit for a logged table (wandb.Table.MAX_ROWS): the first problems, beyond it none
TABLE_COLUMNS = ("problem_id", "difficulty", "strategy", "answer", "correct", "generated_tokens", "flops", "text")


def trees_table(run_dir: Path) -> Any:
    """The search trees as a W&B table: per problem (the first TREE_ROWS with a tree) its id, level, selected
    answer and grade, node count and the tree drawn as HTML media (the SVG `ttc view` draws)."""
    import wandb

    from ttc.analysis.view import problem_data

    trees, data = read_trees(run_dir), []
    for lines in SampleStream(run_dir):
        tree = trees.get(lines[0]["problem_id"])
        if tree is None:
            continue
        chosen = next(x for x in lines if x["selected"])
        shown = problem_data(lines, tree)
        data.append([chosen["problem_id"], chosen["difficulty"], chosen["answer"], chosen["correct"], len(tree),
                     wandb.Html(shown["svg"], inject=False)])
        if len(data) == TREE_ROWS:
            break
    return wandb.Table(columns=["problem_id", "difficulty", "answer", "correct", "nodes", "tree"], data=data)


def resolve_mode(mode: str | None) -> str:
    """The W&B mode: the given one, else $WANDB_MODE, else online with a key and offline without."""
    mode = mode or os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    if mode not in MODES:
        raise ConfigError(f"logger.mode={mode} is not valid; choose one of: {', '.join(MODES)}")
    return mode


def own_series(rows: list[dict], config: dict) -> list[dict]:
    """The level-"all" rows of the run's own curve: the rule its strategy config asked for (asked_rows)."""
    from ttc.analysis.outputs import asked_rows

    selection = (config.get("strategy") or {}).get("selection")
    return [r for r in asked_rows(rows, selection) if r["level"] == "all"]


def named(run_dir: Path, config: dict) -> dict:
    """The config W&B shows: the run's, with `strategy.name` and `verifier.name` the names the run recorded
    (run.json's meta: `majority`, `sample`, `best_of_n` rather than the class they share; `none` for no
    verifier rather than an empty group), else what the config says."""
    from ttc.contracts.rundir import read_record

    try:
        meta = read_record(run_dir).get("meta") or {}
    except ConfigError:
        meta = {}
    strategy, verifier = dict(config.get("strategy") or {}), dict(config.get("verifier") or {})
    strategy["name"] = (meta.get("strategy") or strategy.get("name") or strategy.get("selection")
                        or str(strategy.get("_target_", "")).rsplit(".", 1)[-1])
    verifier["name"] = meta.get("verifier") or verifier.get("name") or (
        str(verifier["_target_"]).rsplit(".", 1)[-1] if verifier.get("_target_") else "none")
    return {**config, "strategy": strategy, "verifier": verifier}


def rules_chart(rows: list[dict]) -> Any:
    """Every rule of the run (each rule read off a pool, and the run's own curve) as one line of accuracy
    against log10 FLOPs per problem. W&B's SDK cannot set a panel's axis to log scale (its line preset has no
    scale field, and a workspace's axis settings are not in the SDK), so the x values are the logarithm."""
    import wandb

    from ttc.analysis.curves import series_label

    data = [[series_label(r), math.log10(r["flops_per_problem"]), r["accuracy"], r["ci_low"], r["ci_high"],
             r["budget"], r["budget_unit"]]
            for r in sorted(rows, key=lambda r: (series_label(r), r["flops_per_problem"]))
            if r["level"] == "all" and r["flops_per_problem"] > 0]
    table = wandb.Table(columns=list(CHART_COLUMNS), data=data)
    return wandb.plot.line(table, "log10_flops_per_problem", "accuracy", stroke="series",
                           title="accuracy vs log10 FLOPs per problem, every rule")


class LiveRun:
    """One W&B run: `progress` during the run, `finish` with the final tables at the end."""

    def __init__(self, run: Any, mode: str, artifact: bool) -> None:
        self.run, self.mode, self.artifact = run, mode, artifact
        self.started = time.perf_counter()
        self.run.define_metric("progress/problems")
        self.run.define_metric("progress/*", step_metric="progress/problems")
        self.run.define_metric("curve/flops_per_problem")
        self.run.define_metric("curve/*", step_metric="curve/flops_per_problem")

    def progress(self, done: int, total: int, right: int, flops: float, tokens: int, fresh: int) -> None:
        """Log the running totals after a batch (`fresh`: problems computed in this process so far, over which
        `right`, `flops` and `tokens` are counted; `done` includes problems finished by an earlier process)."""
        elapsed = time.perf_counter() - self.started
        rate = fresh / elapsed if elapsed > 0 else 0.0
        self.run.log({"progress/problems": done, "progress/accuracy": right / max(fresh, 1), "progress/flops": flops,
                      "progress/generated_tokens": tokens, "progress/problems_per_s": rate,
                      "progress/eta_s": (total - done) / rate if rate > 0 else None})

    def finish(self, run_dir: Path, config: dict, rows: list[dict], samples: list[dict]) -> str | None:
        """Log the curves and problems tables, the run's own curve and summary, the artifact; close the run.
        Returns the W&B run directory (None when disabled)."""
        import wandb

        from ttc.analysis.curves import COLUMNS

        try:
            for r in sorted(own_series(rows, config), key=lambda r: r["flops_per_problem"]):
                self.run.log({"curve/flops_per_problem": r["flops_per_problem"], "curve/budget": r["budget"],
                              "curve/gen_tokens": r["gen_tokens_per_problem"], **{f"curve/{k}": r[k] for k in CURVE_KEYS},
                              **{f"curve/{k}": r[k] for k in COST_KEYS if r.get(k) is not None}})
            top = max(own_series(rows, config), key=lambda r: r["budget"], default=None)
            if top is not None:
                self.run.summary.update({"accuracy": top["accuracy"], "flops_per_problem": top["flops_per_problem"],
                                         "n_problems": top["n_problems"], "series": top["series"]})
            curves = wandb.Table(columns=list(COLUMNS), data=[[r.get(c) for c in COLUMNS] for r in rows])
            chosen = [s for s in samples if s.get("selected")]
            problems = wandb.Table(columns=list(TABLE_COLUMNS), data=[[s.get(c) for c in TABLE_COLUMNS]
                                                                       for s in chosen[:TABLE_ROWS]])
            self.run.summary.update({"problems_in_table": min(len(chosen), TABLE_ROWS), "problems": len(chosen)})
            self.run.log({"curves": curves, "problems": problems, "accuracy_vs_flops": rules_chart(rows)})
            if (run_dir / TREES).exists():
                self.run.log({"trees": trees_table(run_dir)})
            if self.artifact:
                digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
                art = wandb.Artifact(f"run-{digest}", type="ttc-run")
                for name in ("run.json", "samples.jsonl", TREES, "curves.csv", "curves.png"):
                    if (run_dir / name).exists():
                        art.add_file(str(run_dir / name))
                self.run.log_artifact(art)
            return None if self.mode == "disabled" else str(Path(self.run.dir).parent)
        finally:
            self.run.finish()

    def abandon(self) -> None:
        """Close the W&B run of a run that stopped early (its live points stay; a resume starts a new one)."""
        self.run.finish(exit_code=1)


class WandbLogger:
    """Mirror runs to W&B (offline unless a key is set); see the module docstring."""

    def __init__(self, project: str = "ttc", entity: str | None = None, mode: str | None = None,
                 name: str | None = None, group: str | None = None, job_type: str = "eval",
                 tags: list[str] | None = None, notes: str | None = None, artifact: bool = True,
                 init_timeout: float = 15.0) -> None:
        if init_timeout <= 0:
            raise ConfigError(f"logger.init_timeout={init_timeout} must be positive (seconds)")
        self.project, self.entity, self.mode = project, entity, resolve_mode(mode)
        self.name, self.group, self.job_type, self.notes = name, group, job_type, notes
        self.tags, self.artifact, self.init_timeout = list(tags or []), artifact, float(init_timeout)

    def start(self, run_dir: Path, config: dict, group: str | None = None, where: Path | None = None) -> LiveRun:
        """Begin the W&B run of `run_dir` (its files under `where`, default the run directory); an online init
        that fails or times out falls back to offline, with one warning line and the command to upload it."""
        import wandb

        run_dir, where = Path(run_dir), Path(where or run_dir)
        if self.mode != "disabled":
            where.mkdir(parents=True, exist_ok=True)

        def init(mode: str):
            return wandb.init(project=self.project, entity=self.entity, mode=mode, dir=str(where),
                              name=(self.name or run_dir.name)[:120], group=self.group or group,
                              job_type=self.job_type, notes=self.notes, config=named(run_dir, config), tags=self.tags,
                              reinit="finish_previous", settings=wandb.Settings(
                                  silent=True, console="off", init_timeout=self.init_timeout))
        if self.mode != "online":
            return LiveRun(init(self.mode), self.mode, self.artifact)
        try:
            return LiveRun(init("online"), "online", self.artifact)
        except Exception as err:  # unreachable server, bad key, timeout: the run's results do not depend on W&B
            run = init("offline")
            print(f"ttc: warning: W&B online init failed ({type(err).__name__}); logged offline instead; "
                  f"upload later with: wandb sync {Path(run.dir).parent}", file=sys.stderr)
            return LiveRun(run, "offline", self.artifact)


class NoLogger:
    """`logger=none`: nothing leaves the run directory (it has no `start`, so the run loop mirrors nothing)."""
