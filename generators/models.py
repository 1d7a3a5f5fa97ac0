"""Where models live: bundled tiny models by name, or a local directory given by path.

Nothing here downloads: a name that is neither bundled nor an existing directory is a ConfigError.
"""

from __future__ import annotations

import re
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


def model_source(model: str, revision: str | None, field: str = "generator.model") -> tuple[Path | str, dict]:
    """A bundled name or local directory (a Path), or a hub id, which must carry a pinned revision."""
    try:
        return resolve_model(model, field), {}
    except ConfigError as err:
        hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", model) and not Path(model).exists()
        if not hub_id:
            raise
        if not revision:
            raise ConfigError(f"{field}={model} is neither a bundled model ({', '.join(bundled_models())}) "
                              f"nor an existing directory; as a hub id it needs {field.rsplit('.', 1)[0]}.revision=COMMIT "
                              f"(pinned for reproducibility)") from err
        return model, {"revision": revision}
