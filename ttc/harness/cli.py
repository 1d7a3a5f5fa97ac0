"""The `ttc` command: a Hydra app over conf/, with one-line errors and a summary after a sweep.

    ttc                                   # default job: arith, tiny-0.3m, best-of-16 with a verifier
    ttc strategy=greedy generator.model=tiny-4m
    ttc -m strategy=greedy,majority,best_of_n
    ttc -m strategy=greedy,majority num_shards=4 shard=0,1,2,3   # shards merge at the end
    ttc merge OUT_DIR SHARD_DIR...        # merge finished shards run separately
    ttc processbench verifier=NAME data=FILE|tiny   # first-wrong-step F1 of a step verifier
    ttc report RUN_DIR... [--out DIR]     # report.html / report.md: curves, compute-optimal, exchange
    ttc grade task=humaneval samples=FILE.jsonl   # re-grade completions made elsewhere: FILE_results.jsonl, pass@k
    ttc curves task=math500 pool=FILE.jsonl       # a pool made elsewhere as a run directory: curves.csv, report
    ttc serve [group=option ...]          # OpenAI's API over the presets (serve.presets), 127.0.0.1:8000
    ttc view RUN_DIR... [--out DIR]       # index.html: every problem's candidates and search tree, runs side by side
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.harness.cap import resume_sweep
from ttc.harness.resolvers import register
from ttc.harness.side import IN_PROCESS, Side, SideWorker, warm

register()  # ${model_dir:NAME} in configs

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ("task", "generator", "strategy", "verifier", "logger", "experiment")
# The command's side worker while `main` runs Hydra (InProcess otherwise). Hydra calls the job (`_app`) and the
# sweep's summary (ttc.harness.sweep.SweepSummary, built from the config) with no argument of ours: they read it
# here, and hand it on to the run (run.execute) as an argument. A launcher that runs jobs in other processes sends this as
# InProcess (SideWorker pickles so). `_sweep_dir`: the sweep's directory once a sweep's job has started (an
# interrupted sweep names it: its default is dated, so the same command alone would start another sweep).
_side: Side = IN_PROCESS
_sweep_dir: Path | None = None


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


def short_sweep_names(argv: list[str]) -> list[str]:
    """A sweep's job directories named by what the sweep varies: the overrides every job shares (the command's
    non-sweep values) are left out of `override_dirname` (run.json keeps the whole config and command line).
    The same command gives the same names, so a re-launched sweep resumes. Returns argv, extended."""
    if not ({"-m", "--multirun"} & set(argv)) or any(a.startswith("hydra.job.config.override_dirname") for a in argv):
        return argv
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv[1:] if not a.startswith("-")])
    except Exception:  # Hydra reports the syntax error itself, naming the override
        return argv
    fixed = sorted({o.key_or_group for o in overrides if not o.is_sweep_override()
                    and not o.key_or_group.startswith("hydra")})
    if not fixed or not any(o.is_sweep_override() for o in overrides):
        return argv
    keep = ",".join(["hydra.sweep.dir", "hydra.run.dir", *fixed])
    return [*argv, f"hydra.job.config.override_dirname.exclude_keys=[{keep}]"]


def fail(err: Exception | str, side: Side = IN_PROCESS) -> None:
    """Stop `side` at once, print one error line and exit with status 2."""
    side.stop(now=True)
    print(f"ttc: error: {err}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _app(cfg: DictConfig) -> None:
    from ttc.harness.run import execute  # heavy imports after argument checks

    from hydra.types import RunMode

    global _sweep_dir
    hc = HydraConfig.get()
    group = Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None
    _sweep_dir = Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    try:
        execute(cfg, Path(hc.runtime.output_dir), group=group,
                sweep_dir=Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None, side=_side)
    except ConfigError as err:
        _forget(Path(hc.runtime.output_dir), hc.job.name)
        fail(err, _side)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES):
            raise
        fail(f"cannot write {err.filename or hc.runtime.output_dir} ({err.strerror}); what was written is kept: "
             f"free space or make it writable and rerun the same command to resume (or copy the run directory "
             f"elsewhere and point hydra.run.dir there)", _side)


HYDRA_FILES = {".hydra", "multirun.yaml"}


def _forget(run_dir: Path, job: str) -> None:
    """Remove a run directory that holds nothing but what Hydra wrote before the run refused its config
    (and a sweep directory left empty by that), so a bad input leaves nothing behind. Anything of ours
    (run.json, samples.jsonl, a lock) keeps the directory."""
    import fcntl
    import shutil

    lock = run_dir / ".ttc.lock"  # ours, and removable only while no other process holds it
    for path in (run_dir, run_dir.parent):
        if not path.is_dir() or not set(p.name for p in path.iterdir()) <= HYDRA_FILES | {f"{job}.log", lock.name}:
            return
        if path == run_dir and lock.exists():
            with open(lock, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return
                shutil.rmtree(path, ignore_errors=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        if path == run_dir and HydraConfig.get().mode.name != "MULTIRUN":
            return


def main(beside: bool = False) -> None:
    """The `ttc` entry point: `merge`, `grade`, `curves`, `serve`, `processbench`, `report`, or a Hydra run or sweep.
    `beside`: start a side worker (ttc.harness.side.SideWorker) that checks the command line, draws and mirrors
    to W&B, handed to the run; only where the main module re-imports safely (a spawned worker imports it)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    argv, side = sys.argv[1:], IN_PROCESS
    try:
        if _subcommand(argv):
            return
        check_choices(argv)
        hydras = any(a.startswith("--") and a != "--multirun" for a in argv)  # --help, --cfg: Hydra's own
        side = SideWorker() if beside and not hydras else IN_PROCESS
        _prepare(argv, side, check=not hydras)
    except ConfigError as err:
        fail(err, side)
    sys.argv = short_sweep_names(sys.argv)
    _hydra(side)


def _subcommand(argv: list[str]) -> bool:
    """Run the subcommand argv names (`merge`, `grade`, `curves`, `serve`, `processbench`, `report`, `view`): True;
    else False (Hydra's)."""
    if argv[:1] == ["merge"]:
        merge_command(argv[1:])
    elif argv[:1] == ["grade"]:
        from ttc.harness.grade import grade_command

        check_choices(argv[1:])
        grade_command(argv[1:], CONF_DIR)
    elif argv[:1] == ["serve"]:
        from ttc.harness.serve import serve_command

        check_choices(argv[1:])
        serve_command(argv[1:], CONF_DIR)
    elif argv[:1] == ["curves"]:
        from ttc.harness.replay import curves_command

        check_choices(argv[1:])
        curves_command(argv[1:], CONF_DIR)
    elif argv[:1] == ["processbench"]:
        from ttc.harness.processbench import processbench_command

        check_choices(argv[1:])
        processbench_command(argv[1:], CONF_DIR)
    elif argv[:1] == ["report"]:
        from ttc.analysis.report import main as report

        report(argv[1:])
    elif argv[:1] == ["view"]:
        from ttc.analysis.view import main as view

        view(argv[1:])
    else:
        return False
    return True


def _prepare(argv: list[str], side: Side, check: bool) -> None:
    """The command line's checks (`check`): in an active side worker while this process imports transformers,
    else here first; then the worker warms up, and transformers' own bars and warnings are turned off."""
    checking = None
    if check:
        from ttc.harness.precheck import precheck

        if side.active():  # the worker checks while this process imports transformers
            checking = side.call(precheck, argv, CONF_DIR)
        else:
            precheck(argv, CONF_DIR)
    from transformers.utils import logging as hf_logging

    if checking is not None:
        checking.result()
        side.call(warm)  # after the checks, so a refused command leaves the worker idle and quick to end
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _hydra(side: Side) -> None:
    """Hydra's run or sweep with `side` handed to its jobs and its summary; `side` is stopped on every way out:
    after its queued work when all went well, at once on an error or Ctrl-C."""
    global _side, _sweep_dir
    _side = side
    try:
        _app()
    except KeyboardInterrupt:
        side.stop(now=True)
        how = resume_sweep(_sweep_dir) if _sweep_dir is not None else "rerun the same command"
        print(f"ttc: interrupted; {how} to resume", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exit_:
        side.stop(now=exit_.code not in (None, 0))
        raise
    finally:
        _side, _sweep_dir = IN_PROCESS, None
    side.stop()


def merge_command(argv: list[str]) -> None:
    """`ttc merge OUT_DIR SHARD_DIR...`: merge finished shard run directories into one run directory."""
    from ttc.analysis.outputs import asked_rows, format_table, read_csv
    from ttc.contracts.rundir import read_record
    from ttc.harness.shards import merge

    if argv[:1] in (["-h"], ["--help"]):
        print("usage: ttc merge OUT_DIR SHARD_DIR [SHARD_DIR ...]\n\nMerge the finished shard run directories of "
              "one sweep point (num_shards=k, shard=0..k-1) into OUT_DIR: samples, run.json, curves.")
        return
    if len(argv) < 2:
        raise ConfigError("usage: ttc merge OUT_DIR SHARD_DIR [SHARD_DIR ...]")
    out = merge(argv[0], argv[1:])
    rows = read_csv(out / "curves.csv")
    print(format_table(rows, asked=asked_rows(rows, read_record(out)["config"]["strategy"].get("selection"))))
    print(f"merged run directory: {out}")


def entry() -> None:
    """The console script: `main`, then a quick exit once it has returned normally. Python's own
    finalisation collects every object of torch, transformers and triton one by one (~0.75 s measured
    here) after all the work is saved; instead the exit handlers run (logging, W&B, vLLM's engine shutdown),
    stdout and stderr are flushed and the process ends. Errors (SystemExit, exceptions) exit the usual way."""
    import atexit

    main(beside=True)
    atexit._run_exitfuncs()  # CPython's own exit handlers, run now rather than after module teardown
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    entry()
