#!/usr/bin/env bash
# Issue 3's sweep on the tiny world, levels 3-5 (20 problems each), tiny-0.3m generating, the trained tiny PRM
# verifying: best-of-64 (every n <= 64 read off one pool: best-of-N by the ORM, weighted vote, majority),
# PRM beam search and DVTS at n = 4, 16, 64 (width 4), lookahead (k = 1) at n = 4, 16; then one report.
# (width 4: the strategies' default; a multirun checks plain overrides against the default strategy, so sweep
# it as strategy.width='choice(2,4)')
# Usage: bash scripts/search_grid.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-runs/search}
COMMON=(task.levels=[3,4,5] task.per_level=20 logger=none)
ttc strategy=best_of_n strategy.n=64 verifier=tiny_orm "${COMMON[@]}" hydra.run.dir="$OUT/bon"  # resumes if done
ttc -m strategy=prm_beam,dvts strategy.n=4,16,64 verifier=tiny_prm "${COMMON[@]}" \
    hydra.sweep.dir="$OUT/search"
ttc -m strategy=lookahead strategy.n=4,16 verifier=tiny_prm "${COMMON[@]}" \
    hydra.sweep.dir="$OUT/lookahead"
ttc report "$OUT" --out "$OUT/report"
