"""The run loop: the one place that sees the config. Builds components, runs batches, records, derives.

Problems are cut into fixed batches of `batch_size` in task order (a shard takes every k-th batch, see
harness.shards). A batch whose problems are all on disk is skipped; a partly written batch is recomputed
whole (so every number is computed in the same batch as in an uninterrupted run) and only its missing
problems are appended.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf

from ttc.analysis.outputs import asked_rows, derive_curves, format_table, write_png
from ttc.contracts.cards import pretraining_flops
from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import (BatchGrader, Carded, Generator, Reachable, SelectionRule, Strategy, Task,
                                     Verifier, VerifierNeed)
from ttc.contracts.records import Problem, ProblemResult
from ttc.contracts.samples import sample_lines
from ttc.harness.cap import RunCap
from ttc.harness.components import build, build_verifier, check_context, check_fit
from ttc.harness.fingerprint import model_fingerprints
from ttc.harness.live import Mirror
from ttc.harness.meta import card_record, run_meta
from ttc.harness.lock import RunLock
from ttc.harness.progress import CallProgress, RunBar
from ttc.harness.provenance import now, provenance
from ttc.harness.shards import check_shard, shard_batches
from ttc.harness.side import IN_PROCESS, Side
from ttc.harness.store import NOT_IDENTITY, RunStore


def grades(task: Task, batch: Sequence[Problem], results: Sequence[ProblemResult], done: set[str]) -> list[list[bool]]:
    """Grades of every candidate of the batch's unfinished problems; one parallel call where the task is a
    BatchGrader (code tasks run their tests in sandboxes)."""
    pairs = [(c.answer, p) for p, r in zip(batch, results) if p.id not in done for c in r.candidates]
    answers, problems = [a for a, _ in pairs], [p for _, p in pairs]
    flat = iter(task.grade_many(answers, problems) if isinstance(task, BatchGrader)
                else [task.grade(a, p) for a, p in pairs])
    return [[next(flat) for _ in r.candidates] if p.id not in done else [] for p, r in zip(batch, results)]


def timed_run(strategy: Strategy, batch: Sequence[Problem], generator: Generator, verifier: Verifier | None,
              extract: Any, seed: int) -> list[ProblemResult]:
    """`strategy.run` on the public view of a batch, its wall-clock shared evenly among the batch's ledgers."""
    t0 = time.perf_counter()
    results = strategy.run([p.public() for p in batch], generator, verifier, extract, seed)
    wall = (time.perf_counter() - t0) / max(len(batch), 1)
    return [dataclasses.replace(r, ledger=dataclasses.replace(r.ledger, wall_s=wall)) for r in results]


def shard_fields(cfg: DictConfig) -> tuple[int, int]:
    """This job's (shard, num_shards): run fields, not the task's."""
    shard, num_shards = int(cfg.get("shard", 0)), int(cfg.get("num_shards", 1))
    check_shard(shard, num_shards)
    return shard, num_shards


def execute(cfg: DictConfig, run_dir: Path, quiet: bool = False, group: str | None = None,
            sweep_dir: Path | None = None, side: Side = IN_PROCESS) -> list[dict]:
    """Run (or resume) one task x generator x strategy x verifier (or one shard of it) into `run_dir`;
    return curve rows. A shard whose problems are all on disk is finished without loading any model. The
    run directory is locked for the whole call: a second writer is refused at once, naming the first. In a
    sweep (`sweep_dir`), W&B's offline files go under the sweep so that one `wandb sync` uploads it. `side`
    draws curves.png and holds the W&B run: the `ttc` command's side worker (ttc.harness.side.SideWorker), or
    by default none (InProcess: here and now)."""
    if cfg.batch_size < 1:
        raise ConfigError(f"batch_size={cfg.batch_size} must be at least 1")
    strategy = build(cfg.strategy, "strategy")  # its budget is checked before the run directory is touched
    node = cfg.get("verifier")
    verified = bool(node and "_target_" in node)
    if not verified and isinstance(strategy, VerifierNeed) and strategy.verifier_need():
        raise ConfigError(strategy.verifier_need())
    configured = cfg.strategy.get("selection")
    if isinstance(strategy, SelectionRule) and strategy.applied_rule(verified) != configured and not quiet:
        print(f"ttc: strategy.selection={configured} with verifier=none: selecting by {strategy.applied_rule(verified)} "
              f"(set strategy.selection=... to choose another rule)", file=sys.stderr)
    with RunLock(run_dir):
        return _execute(cfg, strategy, Path(run_dir), quiet, _Beside(group, sweep_dir, side))


@dataclasses.dataclass(frozen=True)
class _Beside:
    """What a run hands its W&B mirror and its drawing: the sweep's group and directory (W&B writes its files
    under WHERE/wandb), and the side worker."""

    group: str | None
    where: Path | None
    side: Side

    def mirror(self, opened: _Opened) -> Mirror:
        """The run's W&B mirror (inert without a logger, or when the run was mirrored)."""
        return Mirror(opened.logger, opened.store.root, opened.config, self.group, self.where, self.side)


@dataclasses.dataclass(frozen=True)
class _Opened:
    """A run opened in its run directory: the task and its problems (`index`: id -> position), this shard's
    batches and their problem ids (`mine`), the resolved config, the store, what it recorded before (`old`)
    and the problems on disk (`done`)."""

    cfg: DictConfig
    strategy: Strategy
    task: Task
    problems: list[Problem]
    index: dict[str, int]
    shard: tuple[int, int]
    batches: list[list[Problem]]
    mine: set[str]
    config: dict
    store: RunStore
    models: dict[str, str]
    old: dict | None
    done: set[str]
    logger: Any


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """The run's models: its generator, the verifier the strategy reads, the meta fields of every sample line
    and the generator's model card (for FLOPs)."""

    generator: Generator
    verifier: Verifier | None
    meta: dict
    card: Any


def _execute(cfg: DictConfig, strategy: Strategy, run_dir: Path, quiet: bool, beside: _Beside) -> list[dict]:
    run = _open(cfg, strategy, run_dir)
    if run.old is not None and run.mine <= run.done:
        if not quiet:
            print(f"ttc: nothing left to do: all {len(run.mine)} problems of {run_dir} are on disk; curves rewritten "
                  f"from samples.jsonl", file=sys.stderr)
        return _finish(run, pretraining_flops(run.old.get("card")), quiet, beside.mirror(run), beside.side)
    finished = (lines[0]["ledger"] for lines in run.store.problems() if lines[0]["problem_id"] in run.mine)
    cap = RunCap.of(cfg.get("budget_cap"), bool(cfg.generator.get("price")), finished, run.store.root, beside.where)
    todo = [sum(p.id not in run.done for p in batch) for batch in run.batches]
    capped = cap.stop(next((n for n in todo if n), 0), len(run.mine))
    if capped is not None:  # spent before any model loads (a rerun at the same cap; a sweep's later job)
        return _stopped(capped, beside, [])
    loaded = _load(run)
    live, capped = _batches(run, loaded, beside, quiet, cap)
    card = loaded.card
    rows = _finish(run, card.pretraining_flops if card is not None else None, quiet, live, beside.side,
                   ended=capped is None)
    return rows if capped is None else _stopped(capped, beside, rows)  # after the finished problems' curves


def _stopped(line: str, beside: _Beside, rows: list[dict]) -> list[dict]:
    """A run stopped by its budget cap: one line. A run alone raises it (exit 2); a sweep's job says it and
    returns, so the sweep goes on to its summary (ttc.harness.sweep.SweepSummary says what the cap left)."""
    if beside.where is None:
        raise ConfigError(line)
    print(f"ttc: {line}", file=sys.stderr, flush=True)
    return rows


def _open(cfg: DictConfig, strategy: Strategy, run_dir: Path) -> _Opened:
    """The task's problems (checked against the strategy) and this shard's batches; the run directory's record
    of this run, if any (another run's is refused), and the problems on disk (a torn end cut off)."""
    shard = shard_fields(cfg)
    task = build(cfg.task, "task")
    problems = task.problems()
    if not problems:
        raise ConfigError("task: the task has no problems; check task.path / task.levels")
    check_fit(strategy, problems)
    index = {p.id: i for i, p in enumerate(problems)}
    batches = shard_batches(problems, cfg.batch_size, *shard)
    mine = {p.id for b in batches for p in b}
    config = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in NOT_IDENTITY}
    store = RunStore(run_dir)
    models = model_fingerprints(config)
    old = store.recorded(config, models)
    done = store.resume()
    logger = build(cfg.logger, "logger") if cfg.get("logger") else None
    return _Opened(cfg, strategy, task, problems, index, shard, batches, mine, config, store, models, old, done,
                   logger)


def _load(run: _Opened) -> _Loaded:
    """Build the generator (checked: reachable, the prompts fit its context) and the verifier the strategy
    reads, and bind the run directory to this run (run.json: config, meta, card, models, provenance)."""
    cfg, strategy = run.cfg, run.strategy
    generator = build(cfg.generator, "generator")
    if isinstance(generator, Reachable):
        generator.check()
    check_context(generator, run.problems, run.task.name)
    verifier = build_verifier(cfg, generator, strategy)
    card = generator.card if isinstance(generator, Carded) else None
    selection = (strategy.applied_rule(verifier is not None) if isinstance(strategy, SelectionRule)
                 else cfg.strategy.get("selection"))
    meta = run_meta(run.task, strategy.name, generator, verifier, cfg.seed, selection)
    run.store.bind(run.config, {"meta": meta, "card": card_record(generator), "models": run.models,
                                "problems": len(run.mine), "provenance": provenance()})
    return _Loaded(generator, verifier, meta, card)


def _batches(run: _Opened, loaded: _Loaded, beside: _Beside, quiet: bool, cap: RunCap) -> tuple[Mirror, str | None]:
    """Every batch of this shard not yet on disk, in order, mirrored to W&B as it goes (the mirror is returned,
    open); the bar moves within a batch, call by call. On an error or Ctrl-C the bar is erased and the W&B run
    abandoned (what was appended stays: a rerun resumes). A batch that would cross `budget_cap` is not started:
    the line saying so is returned beside the mirror (ttc.harness.cap)."""
    shard, num_shards = run.shard
    bar = RunBar(len(run.mine), len(run.done & run.mine), f"{run.strategy.name}" + (
        f" [shard {shard}/{num_shards}]" if num_shards > 1 else ""), disable=quiet)
    live = beside.mirror(run)
    progress = CallProgress(bar)  # the generator reports to it, call by call
    capped = None
    try:
        with progress.watch(loaded.generator):
            for batch in run.batches:
                todo = sum(p.id not in run.done for p in batch)
                if not todo:
                    continue
                capped = cap.stop(todo, len(run.mine))
                if capped is not None:
                    break
                cap.add(_batch(run, batch, loaded, live, progress))
    except BaseException:
        bar.close(leave=False)  # an error's one line starts on a clean line, not after the bar
        live.abandon()
        raise
    bar.close()
    return live, capped


def _batch(run: _Opened, batch: list[Problem], loaded: _Loaded, live: Mirror,
           progress: CallProgress) -> list[dict]:
    """One batch: the strategy's run, the grades, each unfinished problem's lines appended, the timing; the
    appended problems' ledgers."""
    started, t0 = now(), time.perf_counter()
    finished = len(run.done & run.mine) + live.fresh
    progress.begin(finished, sum(p.id not in run.done for p in batch))
    results = timed_run(run.strategy, batch, loaded.generator, loaded.verifier, run.task.extract, int(run.cfg.seed))
    ledgers: list[dict] = []
    for problem, result, correct in zip(batch, results, grades(run.task, batch, results, run.done)):
        if problem.id in run.done:
            continue
        lines = sample_lines(problem, result, correct, {**loaded.meta, "problem_index": run.index[problem.id]})
        if result.tree and run.cfg.get("trees", True):
            run.store.append_tree({"problem_id": problem.id, "problem_index": run.index[problem.id],
                                   "strategy": loaded.meta["strategy"], "run_seed": loaded.meta["run_seed"],
                                   "nodes": list(result.tree)})
        run.store.append(lines)
        ledgers.append(lines[0]["ledger"])
        finished += 1
        live.count(lines, finished, len(run.mine))
    progress.end(finished)
    live.push()
    run.store.timing({"started": started, "wall_s": round(time.perf_counter() - t0, 3), "pid": os.getpid(),
                      "problems": [p.id for p in batch]})
    return ledgers


def _finish(run: _Opened, pretrain: float | None, quiet: bool, live: Mirror, side: Side,
            ended: bool = True) -> list[dict]:
    """Derive the curves from every line on disk (curves.png drawn by `side`), close the W&B mirror with the
    final tables, print the table."""
    store, config = run.store, run.config
    if ended:  # not a run a budget cap stopped
        store.finished(now())
    chosen: list[dict] = []  # the selected lines (the W&B problems table), gathered in the curves' one pass
    curves = derive_curves(_choosing(store.problems(), chosen), pretrain)
    drawing = store.write_curves(curves, lambda *args: side.call(write_png, *args))  # drawn while this goes on
    rows = curves.rows
    offline = live.finish(config, rows, chosen)  # mirrored once (a marker): live, or in one go when nothing was left
    if not quiet:
        rule = chosen[0].get("selection") if chosen else config["strategy"].get("selection")  # the rule applied
        print(format_table(rows, asked=asked_rows(rows, rule)))
        print(f"run directory: {store.root}")
        if offline and live.where is None:  # a sweep prints one command for all its runs
            print(f"W&B (offline): upload with: wandb sync {offline}")
    drawing.result()
    return rows


def _choosing(problems: Iterable[list[dict]], chosen: list[dict]) -> Iterator[list[dict]]:
    """Pass each problem's lines on, adding its selected lines to `chosen`."""
    for lines in problems:
        chosen += [x for x in lines if x["selected"]]
        yield lines
