"""Where models live: bundled tiny models by name, or a local directory given by path.

Nothing here downloads: a name that is neither bundled nor an existing directory is a ConfigError.
"""

from __future__ import annotations

from pathlib import Path

from ttc.contracts.errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def bundled_models() -> list[str]:
    """Names of the models bundled in models/ (directories with a config.json)."""
    return sorted(p.name for p in MODELS_DIR.glob("*") if (p / "config.json").exists())


def resolve_model(model: str, field: str = "generator.model") -> Path:
    """The directory of a bundled model name (e.g. `tiny-1m`) or of an existing local path."""
    bundled = MODELS_DIR / model
    if (bundled / "config.json").exists():
        return bundled
    path = Path(model).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return path
    if path.exists():
        raise ConfigError(f"{field}={model}: the directory has no config.json, so it is not a HF model")
    raise ConfigError(
        f"{field}={model} is neither a bundled model ({', '.join(bundled_models())}) nor an existing directory"
    )
