"""Fingerprints of the local models a run reads, so a run directory is never resumed with other weights
(`RunStore.recorded` compares them).

Every `model` field of the resolved config that names a bundled model or a local HF directory (the
generator's, a verifier's scorer or judge) gets a short hash of its card, config and weight files. Hub ids
and server model names have none: their revision is part of the config itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ttc.contracts.errors import ConfigError
from ttc.generators.models import resolve_model

WHOLE_FILE_BYTES = 64 << 20  # weight files up to this size are hashed whole; larger ones by three 1 MiB slices
SLICE = 1 << 20


def model_fingerprints(config: dict) -> dict[str, str]:
    """{dotted config key: fingerprint} for every `model` field that resolves to a local directory."""
    found: dict[str, str] = {}

    def walk(node: object, prefix: str) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key == "model" and isinstance(value, str):
                fingerprint = local_fingerprint(value)
                if fingerprint is not None:
                    found[dotted] = fingerprint
            else:
                walk(value, dotted)

    walk(config, "")
    return found


def local_fingerprint(model: str) -> str | None:
    """Hash of a local model directory's card.json, config.json and weight files; None if not local."""
    try:
        path = resolve_model(model)
    except ConfigError:
        return None
    digest = hashlib.sha256()
    for name in ("card.json", "config.json"):
        if (path / name).exists():
            digest.update((path / name).read_bytes())
    for weights in sorted([*path.glob("*.safetensors"), *path.glob("*.bin")]):
        size = weights.stat().st_size
        digest.update(f"{weights.name}:{size}".encode())
        digest.update(_content(weights, size))
    return digest.hexdigest()[:16]


def _content(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        if size <= WHOLE_FILE_BYTES:
            return fh.read()
        chunks = []
        for offset in (0, size // 2, size - SLICE):
            fh.seek(offset)
            chunks.append(fh.read(SLICE))
        return b"".join(chunks)
