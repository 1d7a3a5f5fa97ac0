#!/usr/bin/env bash
# The sequential test-time compute grid on the tiny world (levels 2-4, 20 problems each, tiny-0.3m):
# best-of-16 with self-critique, revision chains at parallel/sequential ratios 1x16, 4x4, 16x1,
# a plain revision chain read attempt by attempt, and budget forcing at several thinking budgets.
# Usage: bash scripts/sequential_grid.sh [OUT_DIR]   (about 10 minutes on 2 CPU cores)
set -euo pipefail
OUT=${1:-runs/sequential}
COMMON=(task.levels=[2,3,4] task.per_level=20)
ttc -m strategy=best_of_n strategy.n=16 verifier=self_critique "${COMMON[@]}" hydra.sweep.dir="$OUT/bon"
ttc -m strategy=revision strategy.n=16 strategy.parallel=1,4,16 strategy.selection=weighted_vote \
    verifier=self_critique "${COMMON[@]}" hydra.sweep.dir="$OUT/revision"
ttc strategy=revision strategy.n=8 strategy.selection=last verifier=none task.levels=[1,2,3,4,5] \
    task.per_level=20 hydra.run.dir="$OUT/revision_chain"
python -m ttc.analysis.sequential "$OUT/revision_chain"
ttc -m task.mode=think strategy=budget_forcing strategy.max_thinking=8,16,32,64,128 verifier=none \
    "${COMMON[@]}" hydra.sweep.dir="$OUT/forcing"
ttc -m task.mode=think strategy=budget_forcing strategy.max_thinking=256 strategy.min_thinking=256 \
    strategy.max_waits=1,2,4 verifier=none "${COMMON[@]}" hydra.sweep.dir="$OUT/forcing_min"
