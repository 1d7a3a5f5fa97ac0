#!/usr/bin/env bash
# Issue 18's real test-time-scaling curves on CPU: SmolLM2-135M-Instruct on GSM8K (greedy, and one pool of N
# samples per problem: pass@k, majority@k, best-of-k by the model's own probability) and HumanEval pass@k,
# then one report. Slow (not CI): about an hour on 2 cores at the defaults below. Resumes where it stopped.
# Usage: bash scripts/real_curves.sh [OUT_DIR] [GSM8K_PROBLEMS] [N] [HUMANEVAL_PROBLEMS]
set -euo pipefail
OUT=${1:-runs/real}
PROBLEMS=${2:-200}
N=${3:-64}
HE=${4:-164}
COMMON=(logger=none generator.threads=2)
ttc experiment=smollm2_gsm8k strategy=greedy task.limit="$PROBLEMS" "${COMMON[@]}" hydra.run.dir="$OUT/gsm8k_greedy"
ttc experiment=smollm2_gsm8k strategy.n="$N" task.limit="$PROBLEMS" "${COMMON[@]}" hydra.run.dir="$OUT/gsm8k_pool"
ttc experiment=smollm2_humaneval strategy.n="$N" task.limit="$HE" "${COMMON[@]}" hydra.run.dir="$OUT/humaneval_pool"
ttc report "$OUT/gsm8k_greedy" "$OUT/gsm8k_pool" --out "$OUT/report_gsm8k"
ttc report "$OUT/humaneval_pool" --out "$OUT/report_humaneval"
