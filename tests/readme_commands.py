"""The `ttc` commands of the README's code blocks and of the configs' usage comments, read as the shell reads
them, and what each needs to run (tests/test_readme_commands.py checks and runs them)."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from ttc.harness.cli import CONF_DIR, GROUPS
from ttc.harness.resolvers import locating_only, register

ROOT = CONF_DIR.parent
TINY = {p.name for p in (ROOT / "models").iterdir() if (p / "config.json").exists()}
OTHER_PROGRAMS = {"make", "python", "bash", "ray"}  # not ttc: their own tests (and make) cover them
DEFAULT_RUNS = 1  # the README's first tiny single run (the bare `ttc`) also runs end to end in the fast suite
TTC = [sys.executable, "-m", "ttc.harness.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Command:
    """One `ttc` command as written: where (FILE:LINE), the line, the shell's words after `ttc`, and for the
    README the code block it is in."""

    where: str
    text: str
    argv: tuple[str, ...]
    block: int = -1

    @property
    def multirun(self) -> bool:
        return "-m" in self.argv or "--multirun" in self.argv

    @property
    def sub(self) -> str | None:
        """`report`, `processbench`, ... or None for a run."""
        return self.argv[0] if self.argv and not self.argv[0].startswith("-") and "=" not in self.argv[0] else None


def readme_lines() -> list[tuple[str, str, int]]:
    """(README.md:LINE, shell line, block) of the README's bash code blocks, `\\` continuations joined."""
    out, inside, fence, block, held = [], False, False, 0, None
    for number, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1):
        if line.startswith("```"):  # an opening fence (bash or another language) or the closing one
            inside, block = not inside, block + 1
            fence = inside and line.strip("`") in ("", "bash", "sh")
            continue
        if not fence or not line.strip():
            continue
        start, text = held or (number, "")
        text += line.rstrip()
        held = (start, text[:-1] + " ") if text.endswith("\\") else None
        if held is None:
            out.append((f"README.md:{start}", text.strip(), block))
    return out


USAGE = re.compile(r"`(ttc(?: [^`]*)?)`")
UNQUOTED = re.compile(r"\bttc (?:-m |[\w/.+~-]+=)")


def comment_of(line: str) -> str:
    """The comment of a YAML line: a whole-line comment, or one after a value."""
    if line.lstrip().startswith("#"):
        return line.lstrip()[1:]
    return line.partition(" #")[2]


def config_lines() -> list[tuple[str, str, int]]:
    """(conf/FILE:LINE, command, -1) of every backticked `ttc ...` in the configs' comments."""
    return [(f"{p.relative_to(ROOT)}:{n}", text, -1) for p in sorted(CONF_DIR.rglob("*.yaml"))
            for n, line in enumerate(p.read_text().splitlines(), 1) for text in USAGE.findall(comment_of(line))]


def all_commands() -> tuple[list[Command], list[tuple[str, str]]]:
    """The ttc commands, and (where, program) of every line of another program."""
    commands, others = [], []
    for where, line, block in readme_lines() + config_lines():
        words = shlex.split(line, comments=True)
        cuts = [-1] + [i for i, w in enumerate(words) if w == "&&"] + [len(words)]  # `ray start ... && ttc ...`
        for program in (words[a + 1:b] for a, b in zip(cuts, cuts[1:])):
            if program[0] == "ttc":
                commands.append(Command(where, line, tuple(program[1:]), block))
            else:
                others.append((where, program[0]))
    return commands, others


COMMANDS, OTHERS = all_commands()
UNIQUE = [c for i, c in enumerate(COMMANDS) if c.argv not in {d.argv for d in COMMANDS[:i]}]  # each once


def command_id(command: Command) -> str:
    return f"{command.where} {' '.join(command.argv)}"[:100]


def compose_config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def sweep(command: Command) -> tuple[list[str], dict[str, list[str]]]:
    """The command's fixed overrides (Hydra's own included) and, per swept key, its overrides: the command
    line's sweeps and, under -m, the experiment's `hydra.sweeper.params` the command line leaves alone."""
    fixed, swept = [], {}
    for o in OverridesParser.create().parse_overrides([a for a in command.argv if not a.startswith("-")]):
        if o.is_sweep_override():
            key = o.get_key_element()
            swept[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            fixed.append(o.input_line)
    if command.multirun:
        params = compose_config(fixed).hydra.sweeper.params
        for key, values in (OmegaConf.to_container(params) if params else {}).items():
            swept.setdefault(key, [f"{key}={v}" for v in str(values).split(",")])
    return fixed, swept


def points(command: Command, every: bool = False) -> list[list[str]]:
    """Override lists of the jobs to check: every strategy, verifier, ... (GROUPS) the sweep picks, other
    swept keys at their first value; with `every`, all the jobs the command launches."""
    fixed, swept = sweep(command)
    choices = [v if every or k.lstrip("+~") in GROUPS else v[:1] for k, v in swept.items()]
    return [fixed + list(p) for p in itertools.product(*choices)]


MODEL_KEYS = ("model", "expert", "amateur", "target", "draft")


def models_of(node) -> set[str]:
    """Every model a config names (generators, scorers, judges, draft and amateur models)."""
    if not isinstance(node, dict):
        return set()
    named = {v for k, v in node.items() if k in MODEL_KEYS and isinstance(v, str)}
    return named.union(*(models_of(v) for v in node.values()))


def leaves(node, key: str = ""):
    """(key, value) of every leaf of a container."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, k)
    else:
        yield key, node


def needs(command: Command) -> str | None:
    """What beyond this machine's CPU and the tiny world the command needs (a phrase), or None."""
    if command.sub == "report":
        return "the runs of the commands before it (test_the_report_chain_runs_on_a_slice)"
    if command.sub == "serve":
        return "a server that runs until stopped (tests/test_serve.py drives it with the openai SDK)"
    if command.sub:
        return None
    cfg = compose_config(points(command)[0])
    launcher = cfg.hydra.launcher._target_
    if "Slurm" in launcher:
        return "a SLURM cluster"
    if "Ray" in launcher:
        return "a Ray head (tests/test_ray.py runs this command against one it starts)"
    register()
    with locating_only():
        job = OmegaConf.to_container(OmegaConf.masked_copy(cfg, ["task", "generator", "strategy", "verifier"]),
                                     resolve=True)
    if "base_url" in job["generator"]:
        return f"a server at {job['generator']['base_url']} (the README line after it starts one)"
    if "policy" in job["strategy"] and not Path(job["strategy"]["policy"]).exists():
        return "the policy file `ttc report` writes (test_the_report_chain_runs_on_a_slice)"
    devices = {v for k, v in leaves(job) if k == "device" and isinstance(v, str)}
    if any(d.startswith("cuda") for d in devices) or "# GPU" in command.text or any("/" in m for m in models_of(job)):
        return "GPU"
    if "vllm" in job["generator"]["_target_"]:
        return "slow: vLLM"
    if not models_of(job) <= TINY or "arith" not in job["task"]["_target_"]:
        return "slow: a real model or data"
    return None
