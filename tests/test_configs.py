"""Every YAML under conf/ composes and binds to its target's signature, without building any model."""

import importlib
import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.cli import CONF_DIR, GROUPS


def _targets(node, path="cfg"):
    if isinstance(node, dict):
        if "_target_" in node:
            yield path, node
        for key, value in node.items():
            yield from _targets(value, f"{path}.{key}")


def _bind(path, node):
    module, _, attr = node["_target_"].rpartition(".")
    target = getattr(importlib.import_module(module), attr)
    kwargs = {k: v for k, v in node.items() if not k.startswith("_")}
    try:
        inspect.signature(target).bind(**kwargs)
    except TypeError as err:
        pytest.fail(f"{path} -> {node['_target_']}: {err}")


CHOICES = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]


@pytest.mark.parametrize("group,choice", CHOICES)
def test_config_binds(group, choice):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"{group}={choice}"])
    data = OmegaConf.to_container(cfg, resolve=False)
    found = list(_targets(data))
    assert found, "no component at all"
    for path, node in found:
        _bind(path, node)


def test_every_group_has_configs():
    for g in GROUPS:
        assert list(Path(CONF_DIR, g).glob("*.yaml")), g
