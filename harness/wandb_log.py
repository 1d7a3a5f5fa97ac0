"""Mirror a finished run directory to Weights & Biases (derived output: the run directory stays the record).

Per run: the resolved config; every curve point logged with FLOPs per problem as its x-axis (`define_metric`),
as `accuracy/LABEL` with its interval, and per-budget summary metrics `LABEL/n=K`; a table of per-problem
results (the selected candidate); the run directory as an artifact. A Hydra multirun is one W&B group.
Mode: `logger.mode`, else $WANDB_MODE, else online when $WANDB_API_KEY is set and offline otherwise; an online
init that fails or outlasts `init_timeout` seconds falls back to offline with one warning line. Mirroring never
fails or changes a run: the run loop reports a W&B error as one warning line and keeps its results and exit code
(offline runs sync later with `wandb sync RUN_DIR/wandb/offline-run-*`). `logger=none` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from ttc.contracts.errors import ConfigError

MODES = ("online", "offline", "disabled")


def resolve_mode(mode: str | None) -> str:
    """The W&B mode: the given one, else $WANDB_MODE, else online with a key and offline without."""
    mode = mode or os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    if mode not in MODES:
        raise ConfigError(f"logger.mode={mode} is not valid; choose one of: {', '.join(MODES)}")
    return mode


def _label(r: dict) -> str:
    ver = f"[{r['verifier']}]" if r["verifier"] not in ("none", "") else ""
    return f"{r['model']}/{r['strategy']}{ver}".replace(" ", "_")


class WandbLogger:
    """Mirror finished run directories to W&B (offline unless a key is set); see the module docstring."""

    def __init__(self, project: str = "ttc", entity: str | None = None, mode: str | None = None,
                 tags: list[str] | None = None, artifact: bool = True, init_timeout: float = 15.0) -> None:
        if init_timeout <= 0:
            raise ConfigError(f"logger.init_timeout={init_timeout} must be positive (seconds)")
        self.project, self.entity, self.mode = project, entity, resolve_mode(mode)
        self.tags, self.artifact, self.init_timeout = list(tags or []), artifact, float(init_timeout)

    def _init(self, run_dir: Path, config: dict, group: str | None):
        """A W&B run; an online init that fails or times out (`init_timeout`) falls back to offline, with one
        warning line and the command that uploads it later."""
        import wandb

        def start(mode: str):
            return wandb.init(project=self.project, entity=self.entity, mode=mode, dir=str(run_dir),
                              name=run_dir.name[:120], group=group, config=config, tags=self.tags,
                              reinit="finish_previous", settings=wandb.Settings(
                                  silent=True, console="off", init_timeout=self.init_timeout))
        if self.mode != "online":
            return start(self.mode)
        try:
            return start("online")
        except Exception as err:  # unreachable server, bad key, timeout: the run's results do not depend on W&B
            run = start("offline")
            where = Path(run.dir).parent
            print(f"ttc: warning: W&B online init failed ({type(err).__name__}); logged offline instead; "
                  f"upload later with: wandb sync {where}", file=sys.stderr)
            return run

    def log_run(self, run_dir: Path, config: dict, rows: list[dict], samples: list[dict],
                group: str | None = None) -> str | None:
        """Log one finished run; returns the W&B run directory (None when disabled)."""
        import wandb

        run_dir = Path(run_dir)
        run = self._init(run_dir, config, group)
        try:
            run.define_metric("flops_per_problem")
            for prefix in ("accuracy", "ci_low", "ci_high", "gen_tokens"):
                run.define_metric(f"{prefix}/*", step_metric="flops_per_problem")
            summary = {}
            for r in rows:
                if r["difficulty"] != "all":
                    summary[f"{_label(r)}/n={r['budget']}/level{r['difficulty']}"] = r["accuracy"]
                    continue
                label = _label(r)
                run.log({"flops_per_problem": r["flops_per_problem"], f"accuracy/{label}": r["accuracy"],
                         f"ci_low/{label}": r["ci_low"], f"ci_high/{label}": r["ci_high"],
                         f"gen_tokens/{label}": r["gen_tokens_per_problem"]})
                summary[f"{label}/n={r['budget']}"] = r["accuracy"]
            run.summary.update(summary)
            cols = ["problem_id", "difficulty", "strategy", "answer", "correct", "generated_tokens", "flops", "text"]
            table = wandb.Table(columns=cols, data=[[s.get(c) for c in cols] for s in samples if s.get("selected")])
            run.log({"problems": table})
            if self.artifact:
                digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
                art = wandb.Artifact(f"run-{digest}", type="ttc-run")
                for name in ("run.json", "samples.jsonl", "curves.csv", "curves.png"):
                    if (run_dir / name).exists():
                        art.add_file(str(run_dir / name))
                run.log_artifact(art)
            return None if self.mode == "disabled" else str(Path(run.dir).parent)
        finally:
            run.finish()


class NoLogger:
    """`logger=none`: nothing leaves the run directory."""

    def log_run(self, run_dir: Path, config: dict, rows: list[dict], samples: list[dict],
                group: str | None = None) -> None:
        """Logger.log_run: mirror a finished run; returns where it went (None when nothing was logged)."""
        return None
