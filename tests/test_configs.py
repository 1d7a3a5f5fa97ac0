"""Every YAML under conf/ composes and binds to its target's signature, without building any model."""

import importlib
import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.cli import CONF_DIR, GROUPS
from harness.shards import SHARD_KEYS


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
    if path == "cfg.task":  # the run loop's shard fields, taken out before the task is built
        kwargs = {k: v for k, v in kwargs.items() if k not in SHARD_KEYS}
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


def _sweep_points(params):
    """Every combination of a sweeper's comma-separated choices, as override lists."""
    import itertools

    keys = list(params)
    for values in itertools.product(*(str(params[k]).split(",") for k in keys)):
        yield [f"{k}={v}" for k, v in zip(keys, values)]


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_every_point_of_every_experiment_binds(experiment):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        head = compose(config_name="config", overrides=[f"experiment={experiment}"], return_hydra_config=True)
        params = OmegaConf.to_container(head.hydra.sweeper.params or {})
        assert params, "an experiment overlay names the grid it sweeps"
        points = list(_sweep_points(params))
        for point in points:
            cfg = compose(config_name="config", overrides=[f"experiment={experiment}", *point])
            for path, node in _targets(OmegaConf.to_container(cfg, resolve=False)):
                _bind(path, node)
    assert len(points) >= 3


@pytest.mark.parametrize("launcher,target", [
    ("slurm", "SlurmLauncher"), ("local", "LocalLauncher"), ("submitit_slurm", "SlurmLauncher"),
    ("parallel", "JoblibLauncher"), ("ray_cluster", "RayLauncher"), ("ray", "RayLauncher")])
def test_launcher_configs_compose_and_build(launcher, target):
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"hydra/launcher={launcher}", "hydra.sweep.dir=/tmp/x"],
                      return_hydra_config=True)
    node = cfg.hydra.launcher
    assert node._target_.endswith(target)
    built = instantiate(node, _convert_="none") if target != "RayLauncher" else instantiate(node, _recursive_=False)
    assert type(built).__name__ == target
    if launcher == "slurm":
        assert node.max_num_timeout >= 1 and node.gpus_per_node == 1 and node.array_parallelism == 64
    if launcher == "ray_cluster":
        assert node.ray.init.address == "auto" and node.ray.remote.num_gpus == 1
