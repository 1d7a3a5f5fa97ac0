"""Every YAML under conf/ composes and binds to its target's signature, without building any model."""

import importlib
import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ttc.harness.cli import CONF_DIR, GROUPS


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
        params = OmegaConf.to_container(head.hydra.sweeper.params) if head.hydra.sweeper.params else {}
        points = list(_sweep_points(params)) if params else [[]]  # a single-run overlay (a pool, one point)
        for point in points:
            cfg = compose(config_name="config", overrides=[f"experiment={experiment}", *point])
            for path, node in _targets(OmegaConf.to_container(cfg, resolve=False)):
                _bind(path, node)
    assert len(points) >= 3 or not params


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


# The published config.json of each real model (architecture only), to check the cards written in conf/.
QWEN_1P5B = {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
             "intermediate_size": 8960}
ARCH = {
    "qwen25_math_1p5b": QWEN_1P5B, "qwen25_coder_1p5b": QWEN_1P5B, "r1_distill_1p5b": QWEN_1P5B,
    "qwen25_1p5b": QWEN_1P5B,
    "llama32_1b": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "intermediate_size": 8192},
}
ARCH["llama32_1b_vllm"] = ARCH["llama32_1b"]


@pytest.mark.parametrize("choice", sorted(ARCH))
def test_real_model_cards_match_their_architecture(choice):
    from ttc.contracts.cards import ModelCard, card_from_config, with_fields

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"generator={choice}"])
    card = with_fields(ModelCard("x", 0, 0, 0, 0), OmegaConf.to_container(cfg.generator.card))
    derived = card_from_config({**ARCH[choice], "max_position_embeddings": card.context}, "x")
    assert (card.non_embedding_parameters, card.layers, card.hidden_size) == \
           (derived.non_embedding_parameters, derived.layers, derived.hidden_size)
    assert 1e12 < card.training_tokens < 3e13 and 1e22 < card.pretraining_flops < 3e23


def _hub_nodes():
    for group in ("generator", "verifier", "task"):
        for path in sorted((CONF_DIR / group).glob("*.yaml")):
            text = path.read_text()
            if "revision:" in text:
                yield f"{group}/{path.stem}", text


@pytest.mark.parametrize("name,text", list(_hub_nodes()), ids=[n for n, _ in _hub_nodes()])
def test_hub_sources_are_pinned_to_a_commit(name, text):
    import re

    [line] = [x for x in text.splitlines() if x.startswith("revision:")]
    value = line.split(":", 1)[1].split("#")[0].strip().strip('"')
    if name in ("generator/vllm",):  # the generic config: the user names the model and its commit
        assert value == "null"
    elif name.startswith("task/") and value == "null":  # code tasks: the pinned commit per dataset in HUB
        from ttc.tasks.code_task import HUB

        assert all(re.fullmatch(r"[0-9a-f]{40}", rev) for _, _, rev in HUB.values())
    else:
        assert re.fullmatch(r"[0-9a-f]{40}", value), f"{name}: revision {value!r} is not a commit"
