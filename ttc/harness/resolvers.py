"""Config interpolations of ttc: `${model_dir:NAME}` is the local directory of a bundled or packaged model.

A task's `chat_tokenizer` takes a directory; `${model_dir:smollm2-135m}` gives the converted directory of a
packaged model (converting it on first use), so configs name models, never cache paths. While the command
line is checked (ttc.harness.precheck) the directory is only located, never converted.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from omegaconf import OmegaConf

from ttc.generators.models import resolve_model

_PREPARE = [True]


def model_dir(name: str) -> str:
    """The directory of model `name` (see ttc.generators.models.resolve_model)."""
    return str(resolve_model(name, "model_dir", prepare=_PREPARE[0]))


@contextmanager
def locating_only() -> Iterator[None]:
    """Within this block `${model_dir:...}` locates a model without converting it."""
    _PREPARE[0] = False
    try:
        yield
    finally:
        _PREPARE[0] = True


def register() -> None:
    """Make ttc's interpolations known to OmegaConf (idempotent)."""
    if not OmegaConf.has_resolver("model_dir"):
        OmegaConf.register_new_resolver("model_dir", model_dir)
