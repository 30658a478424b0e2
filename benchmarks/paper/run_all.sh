#!/usr/bin/env bash
# Runs the paper protocol (issue 7) in order, then writes docs/results.md. Every step resumes:
# rerunning after an interruption (Ctrl-C, a reboot) trains only what is missing.
# Arguments go to every script, e.g.:
#   benchmarks/paper/run_all.sh                                  # the real protocol (hf:minilm, two tasks)
#   benchmarks/paper/run_all.sh --backbone zoo:bert-tiny \
#       --task 'wordnet:noun.animal,noun.food,noun.plant?per_class=40' --fidelity-steps 5 --steps 5 \
#       --sample 6 --draws 2 --ks 1 2 --evolve-trials 2 --results /tmp/paper/results --runs /tmp/paper/runs \
#       --doc /tmp/paper/results.md                              # a one-minute smoke version
set -euo pipefail
cd "$(dirname "$0")/../.."
for script in placement_sweep map_repeat random_vs_baseline rank_predicts gga_vs_baseline gga_by_norm cost report; do
  echo "== $script $(date '+%H:%M:%S')"
  python -m "benchmarks.paper.$script" "$@"
done
