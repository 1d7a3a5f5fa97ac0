"""Shared fixtures: the bundled tiny models, loaded once per session, and offline hub settings."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")  # tests of the W&B mirror ask for offline themselves

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def small():
    from harness.hf import HFGenerator

    return HFGenerator("tiny-0.3m")


@pytest.fixture(scope="session")
def arith_prompts():
    from tasks.arith import make_problem, prompt

    return [prompt(make_problem("test", level, i)) for level in (1, 3, 5) for i in range(2)]
