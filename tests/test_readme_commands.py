"""Every `ttc` command in the README's code blocks and in the configs' usage comments runs as written.

Commands are read from the files and split as the shell splits them (quotes, `\\` continuations, `# ...`
comments, `&&`); a config's usage command is a backticked `ttc ...` in a comment. Fast, for each: it passes
ttc's checks before Hydra starts (`check_choices`, `precheck`), Hydra composes it (its `hydra...` overrides
included) with every strategy, verifier and experiment its sweep picks, and each such strategy builds and has
the verifier it needs. The README's first command (the bare `ttc`) runs end to end on a slice by default; under
`slow` every other command does (one problem, `task.limit=1`, or `limit=4`; real models and vLLM included), and
so does the README's report chain (sweeps, `ttc report`, the adaptive policy it writes). What needs a GPU with
weights on disk, a server or a cluster is skipped with the reason where it is absent. Lines running other
programs (make, python, bash, ray start) are listed and left to their own tests.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import read_samples
from ttc.contracts.protocols import VerifierNeed
from ttc.harness.cli import CONF_DIR, check_choices
from ttc.harness.precheck import precheck
from ttc.harness.resolvers import locating_only, register

from readme_commands import (COMMANDS, DEFAULT_RUNS, ENV, OTHER_PROGRAMS, OTHERS, ROOT, TINY, TTC, UNIQUE, UNQUOTED, USAGE,
                             Command, command_id, comment_of, compose_config, needs, points)

def test_the_commands_are_found():
    """The extraction reads what the files hold: the README's headline, its other programs, the usage lines."""
    assert any(c.argv == () and c.where.startswith("README") for c in COMMANDS), "the README's bare `ttc`"
    assert {c.where.split(":")[0] for c in COMMANDS} >= {"conf/config.yaml", "conf/experiment/smollm2_gsm8k.yaml",
                                                         "conf/strategy/revision.yaml", "conf/task/jsonl.yaml"}
    assert sum(c.where.startswith("README") for c in COMMANDS) >= 45
    assert {p for _, p in OTHERS} == OTHER_PROGRAMS, OTHERS
    [ray] = [c for c in COMMANDS if "hydra/launcher=ray_cluster" in c.argv]  # the ttc half of `ray start && ttc`
    assert ray.argv[0] == "-m" and "strategy=majority" in ray.argv
    assert ("strategy.regex='(\\d+\\. \\d+[+-]\\d+=-?\\d+\\n)+Answer: \\d+\\n'" in
            next(c for c in COMMANDS if any(a.startswith("strategy.regex=") for a in c.argv)).argv)


def test_config_comments_write_commands_in_backticks():
    """A usage command outside backticks would be missed here (and is ambiguous to copy): each is quoted."""
    loose = [f"{p.relative_to(ROOT)}:{n}" for p in sorted(CONF_DIR.rglob("*.yaml"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if UNQUOTED.search(USAGE.sub("", comment_of(line)))]
    assert not loose, f"write usage commands as `ttc ...`: {loose}"


def _check_sub(command: Command) -> None:
    argv = list(command.argv[1:])
    if command.sub == "report":  # its options parse; it reads the run directories the commands before it make
        from ttc.analysis.report import main as report

        with pytest.raises(ConfigError):
            report([str(ROOT / "no-such-run"), *argv[1:]])
    elif command.sub == "processbench":
        from ttc.harness.processbench import parse

        check_choices(argv)
        compose_config(parse(argv)[0])
    elif command.sub == "serve":  # its overrides compose with serve's settings (tests/test_serve.py serves)
        check_choices(argv)
        compose_config(["+serve=default", *argv])
    else:
        pytest.fail(f"{command.where}: no check for `ttc {command.sub}` here yet")


@pytest.mark.parametrize("command", UNIQUE, ids=command_id)
def test_command_passes_the_checks_and_has_its_verifier(command):
    """ttc's own checks, Hydra's composition and the strategy's verifier need, at each strategy/verifier picked."""
    if command.sub:
        return _check_sub(command)
    check_choices(list(command.argv))
    precheck(list(command.argv), CONF_DIR)
    for point in points(command):
        cfg = compose_config(point)
        if "policy" in cfg.strategy and not Path(cfg.strategy.policy).exists():
            with pytest.raises(InstantiationException, match="write one with `ttc report"):  # the report line does
                instantiate(cfg.strategy)
            continue
        strategy = instantiate(cfg.strategy)
        if not (cfg.get("verifier") and "_target_" in cfg.verifier) and isinstance(strategy, VerifierNeed):
            assert strategy.verifier_need() is None, f"{command.where} at {point}: {strategy.verifier_need()}"


def test_the_report_reads_runs_of_one_task_setting():
    """`ttc report` refuses runs of different task settings: the sweeps before it in its block agree."""
    for report in [c for c in COMMANDS if c.sub == "report" and c.block >= 0]:
        sweeps = [c for c in COMMANDS if c.block == report.block and c.multirun and COMMANDS.index(c) <
                  COMMANDS.index(report)]
        tasks = {json.dumps(OmegaConf.to_container(compose_config(p).task), sort_keys=True)
                 for c in sweeps for p in points(c)}
        assert sweeps and len(tasks) == 1, (report.where, tasks)


def _slice(command: Command) -> list[str]:
    if command.sub == "processbench":
        return ["limit=4"]
    task = compose_config(points(command)[0]).task
    return ["task.limit=1"] if "limit" in task else ["task.levels=[1]", "task.per_level=1"]


def run_on_a_slice(command: Command, tmp: Path) -> dict:
    """The command as written plus a slice, logging off and its directory `tmp/run` (or `tmp/sweep`); checks
    it ran; returns its run.json (a sweep's: the number of runs, a processbench's: its printed result)."""
    kind = "sweep" if command.multirun else "run"
    dirs = [] if command.sub else ["logger=none", f"hydra.{kind}.dir={tmp / kind}"]
    res = subprocess.run([*TTC, *command.argv, *_slice(command), *dirs], cwd=ROOT, capture_output=True, text=True,
                         timeout=1200, env=ENV)
    assert res.returncode == 0, f"{command.where}: {command.text}\n{res.stderr[-3000:]}"
    if command.sub:
        return json.loads(res.stdout.splitlines()[-1])
    if command.multirun:
        runs = [p for p in (tmp / kind).rglob("run.json") if "merged" not in p.parts]
        assert len(runs) == len(points(command, every=True)) and (tmp / kind / "curves.csv").exists()
        return {"runs": len(runs)}
    record = json.loads((tmp / kind / "run.json").read_text())
    lines = read_samples(tmp / kind)
    assert record["problems"] == len({x["problem_id"] for x in lines}) == 1
    return record


FIRST_TINY = [c for c in UNIQUE if c.where.startswith("README") and not c.multirun and not c.sub][:DEFAULT_RUNS]


@pytest.mark.parametrize("command", FIRST_TINY, ids=command_id)
def test_first_readme_commands_run_on_a_slice(command, tmp_path):
    """The CLI end to end (side worker, prechecks, run loop, records) on the README's headline command."""
    assert needs(command) is None, f"{command.where} is not a tiny-world run: pick others for the fast suite"
    record = run_on_a_slice(command, tmp_path)
    assert record["meta"]["generator"] in TINY


def _need_gpu_and_weights(command: Command) -> None:
    """Skip unless there is a CUDA GPU and every hub model the command names is in the local hub cache
    (nothing is downloaded here)."""
    import torch
    from huggingface_hub import try_to_load_from_cache

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    register()
    with locating_only():
        job = OmegaConf.to_container(compose_config(points(command)[0]), resolve=False)
    for node in (job["generator"], job.get("verifier") or {}):
        model = node.get("model") if isinstance(node.get("model"), str) else None
        if model and "/" in model and not isinstance(
                try_to_load_from_cache(model, "config.json", revision=node.get("revision")), str):
            pytest.skip(f"needs {model} in the local hub cache")


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in UNIQUE if c not in FIRST_TINY], ids=command_id)
def test_command_runs_on_a_slice(command, tmp_path):
    """Each command on a slice: exit 0 and its records (one problem; a sweep: every job's run and the merged
    curves); a command needing what this machine lacks is skipped, naming it."""
    reason = needs(command)
    if reason == "GPU":
        _need_gpu_and_weights(command)
    elif reason and not reason.startswith("slow"):
        pytest.skip(f"needs {reason}")
    out = run_on_a_slice(command, tmp_path)
    if command.sub == "processbench":
        assert out["rows"] == 4 and 0.0 <= out["f1"] <= 1.0


@pytest.mark.slow
def test_the_report_chain_runs_on_a_slice(tmp_path):
    """The README's report block in order from one directory, each command on the same slice (sweeps under
    multirun/): the report, then the adaptive strategy from the policy file the report wrote."""
    [report] = [c for c in COMMANDS if c.sub == "report" and c.block >= 0]
    sliced = ["task.per_level=2", "logger=none"]  # ten problems: the report fits a policy over five bins
    for i, command in enumerate(c for c in COMMANDS if c.block == report.block):
        extra = [] if command.sub else [*sliced, f"hydra.sweep.dir=multirun/{i}" if command.multirun else
                                        "hydra.run.dir=adaptive"]
        res = subprocess.run([*TTC, *command.argv, *extra], cwd=tmp_path, capture_output=True, text=True,
                             timeout=1200, env=ENV)
        assert res.returncode == 0, f"{command.where}: {command.text}\n{res.stderr[-3000:]}"
    assert (tmp_path / "report" / "report.html").exists()
    record = json.loads((tmp_path / "adaptive" / "run.json").read_text())
    assert record["meta"]["strategy"] == "adaptive" and record["problems"] == 10
