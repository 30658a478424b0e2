#!/usr/bin/env bash
# Issue 22 at accelerator size, on a machine with a GPU: the equal-compute comparison with the protocol's
# full WordNet tasks, 135-step baseline runs, 5 seeds, k <= 4 and 8, budgets 2x and 5x, and the causal-LM
# task on a larger GPT-2 (6 x 256, pretrained 2,000 steps); then the planted placements with the
# multi-fidelity search beside the scores and the trained control; then docs/results.md. Every step
# resumes: rerun after an interruption. Extra arguments go to both scripts (e.g. --results /tmp/r --runs /tmp/runs --doc /tmp/r.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== equal_compute $(date '+%H:%M:%S')"
python -m benchmarks.paper.equal_compute --device cuda --workers 2 \
    --task 'wordnet:noun?per_class=120' --task 'wordnet:all?per_class=60' --steps 135 \
    --seeds 0 1 2 3 4 --ks 4 8 --budgets 2 5 \
    --lm --lm-layers 6 --lm-width 256 --lm-pretrain-steps 2000 --lm-work runs/lm_gga_gpu "$@"
echo "== planted $(date '+%H:%M:%S')"
python -m benchmarks.paper.planted --device cuda --workers 2 --task 'wordnet:noun?per_class=120' \
    --methods scores hyperband trained --draws 20 --steps 90 --min-steps 10 --max-steps 90 "$@"
echo "== report $(date '+%H:%M:%S')"
python -m benchmarks.paper.report --fidelity-steps 40 "$@"
