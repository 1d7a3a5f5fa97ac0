"""The `ttc` command: a Hydra app over conf/, with one-line errors and a summary after a sweep.

    ttc                                   # default job: arith, tiny-0.3m, best-of-16 with a verifier
    ttc strategy=greedy generator.model=tiny-4m
    ttc -m strategy=greedy,majority,best_of_n
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.errors import ConfigError, bad_choice

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("task", "generator", "strategy", "verifier")


def check_choices(argv: list[str]) -> None:
    """Reject `group=name` overrides naming no config file, before Hydra (and any work) starts."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if not sep or key not in GROUPS:
            continue
        choices = sorted(p.stem for p in (CONF_DIR / key).glob("*.yaml"))
        for name in value.split(","):
            if name and name not in choices:
                raise bad_choice(key, name, choices)


def fail(err: Exception) -> None:
    print(f"ttc: error: {err}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _app(cfg: DictConfig) -> None:
    from harness.run import execute  # heavy imports after argument checks

    try:
        execute(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as err:
        fail(err)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        check_choices(sys.argv[1:])
    except ConfigError as err:
        fail(err)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    _app()


class SweepSummary(Callback):
    """After a multirun: merge every job's curves into the sweep directory and print one table."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from analysis.outputs import format_table, plot, read_csv, to_csv
        from harness.store import write_atomic

        sweep = Path(config.hydra.sweep.dir)
        rows, seen = [], set()
        for path in sorted(sweep.glob("*/curves.csv")):
            for r in read_csv(path):
                key = (r["strategy"], r["verifier"], r["model"], r["budget"], r["budget_unit"], r["difficulty"])
                if key not in seen:  # the same rule from two pools of the same seeds is the same number
                    seen.add(key)
                    rows.append(r)
        if not rows:
            return
        write_atomic(sweep / "curves.csv", to_csv(rows))
        write_atomic(sweep / "curves.png", plot(rows, title=str(sweep)))
        print(format_table(rows))
        print(f"sweep directory: {sweep}")


if __name__ == "__main__":
    main()
