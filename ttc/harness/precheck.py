"""The command line checked before Hydra starts: nothing is created on disk and torch is not imported.

Composes the config the way Hydra will (a sweep is checked at its first value) and turns what would be a
Hydra traceback into one line naming the key: override syntax, an unknown key (with the valid ones), a
missing required field, a value of the wrong type for its default (`seed=abc`), and a local model that does
not exist. Knows nothing about running; the run loop repeats none of this and checks the rest.
"""

from __future__ import annotations

import re
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ttc.contracts.errors import ConfigError
from ttc.harness.resolvers import locating_only, register
from ttc.generators.models import model_source

GROUPS = ("task", "generator", "strategy", "verifier", "logger", "experiment")


def first_values(argv: list[str]) -> list[str]:
    """The config overrides of a command line (Hydra's own left out), each sweep replaced by its first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
    except OverrideParseException as err:
        raise ConfigError(f"override syntax: {str(err).strip().splitlines()[0]}") from None
    out = []
    multirun = any(a in ("-m", "--multirun") for a in argv)
    for o in parsed:
        if o.is_hydra_override():
            continue
        if o.is_sweep_override() and not multirun:
            raise ConfigError(f"{o.input_line} is a sweep (several values): run it with -m, e.g. ttc -m {o.input_line}")
        if not o.is_sweep_override():
            out.append(o.input_line)
            continue
        try:
            first = next(iter(o.sweep_string_iterator()), None)
        except Exception:  # an interval sweep has no first value: leave it to Hydra
            continue
        if first is not None:
            out.append(f"{'+' if o.is_add() else ''}{o.get_key_element()}={first}")
    return out


def _compose(conf_dir: Path, overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _unknown_key(err: Exception, conf_dir: Path, overrides: list[str]) -> ConfigError:
    """One line for a composition error; for an unknown key, the valid keys beside it."""
    text = str(err)
    m = re.search(r"Could not override '([^']+)'", text)
    if not m:
        return ConfigError(text.strip().splitlines()[0])
    key = m.group(1)
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    rest = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != key]
    try:
        node = OmegaConf.select(_compose(conf_dir, rest), parent) if parent else _compose(conf_dir, rest)
        valid = sorted(k for k in node.keys() if not str(k).startswith("_")) if isinstance(node, DictConfig) else []
    except Exception:
        valid = []
    where = f"{parent}" if parent else "the config"
    return ConfigError(f"{key} is not a setting of {where}; valid: {', '.join(map(str, valid)) or 'none'} "
                       f"(to add a new key, write +{key}=...)")


def _check_types(cfg: DictConfig, base: DictConfig, overrides: list[str]) -> None:
    """A value given for a numeric or boolean default must be one."""
    for o in overrides:
        key, sep, _ = o.lstrip("+~").partition("=")
        if not sep or key in GROUPS:
            continue
        try:
            default, given = OmegaConf.select(base, key, default=None), OmegaConf.select(cfg, key, default=None)
        except Exception:  # a missing (???) default: the required-field check has the say
            continue
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if (numeric or isinstance(default, bool)) and isinstance(given, str):
            kind = "a number" if numeric else "true or false"
            raise ConfigError(f"{key}={given} must be {kind} (default {default})")
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(given, float) \
                and not given.is_integer():
            raise ConfigError(f"{key}={given} must be a whole number (default {default})")
        if isinstance(default, ListConfig) and given is not None and not isinstance(given, ListConfig):
            raise ConfigError(f"{key}={given} must be a list, e.g. {key}=[a,b] (default {list(default)})")


def _check_models(node: Any, path: str = "") -> None:
    """The `model` of every component that loads weights itself (all but clients of a server, which have a
    `base_url`) names a bundled model, a local directory or a hub id with a pinned revision."""
    if not isinstance(node, dict):
        return
    if "_target_" in node and isinstance(node.get("model"), str) and "base_url" not in node:
        model_source(node["model"], node.get("revision"), f"{path}.model" if path else "model", prepare=False)
    for key, value in node.items():
        _check_models(value, f"{path}.{key}" if path else str(key))


def _check_writable(argv: list[str]) -> None:
    """The run (or sweep) directory given on the command line, or the working directory the default one goes
    under, can be written: a read-only or full file system is one line here, not a traceback from Hydra's log
    handler."""
    import errno

    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir=" if multirun else "hydra.run.dir="
    given = [a.split("=", 1)[1] for a in argv if a.startswith(key)]
    target = Path(given[-1]).expanduser() if given and "${" not in given[-1] else Path.cwd()
    existing = next((p for p in [target, *target.parents] if p.exists()), Path("/"))
    if not os.access(existing, os.W_OK):
        why = "read-only file system" if os.statvfs(existing).f_flag & os.ST_RDONLY else "permission denied"
        raise ConfigError(f"cannot write {target} ({why} at {existing}); choose a writable {key}...")
    stats = os.statvfs(existing)
    if stats.f_bavail * stats.f_frsize < 64 * 1024:
        raise ConfigError(f"cannot write {target} ({os.strerror(errno.ENOSPC)} at {existing}); free space or "
                          f"choose another {key}...")


def precheck(argv: list[str], conf_dir: Path) -> None:
    """Refuse, in one line, a command line whose config cannot be what the user meant."""
    _check_writable(argv)
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    overrides = first_values(argv)
    try:
        cfg = _compose(conf_dir, overrides)
    except ConfigCompositionException as err:
        raise _unknown_key(err, conf_dir, overrides) from None
    register()
    try:
        with locating_only():
            resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{err.full_key} is required and has no value; set {err.full_key}=...") from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"{getattr(err, 'full_key', 'config')}: {str(err).splitlines()[0]}") from None
    base = _compose(conf_dir, [o for o in overrides if o.lstrip("+~").split("=", 1)[0] in GROUPS])
    _check_types(cfg, base, overrides)
    _check_models(resolved)
