#!/usr/bin/env bash
# The accelerator checks of issue 13, item 6, in one script (under 8 minutes on one GPU):
#   1. zero-init equivalence, disabled adapters and a semantics check of every edge kind, on CUDA;
#   2. a few training steps of the 12-adapter baseline on hf: MiniLM (float16 weights loaded in float32),
#      without and with --amp bf16;
#   3. score_edges on MiniLM and the ViT-B shape: time and peak CUDA memory;
#   4. the memory benchmark's CUDA rows (BERT-base shape; Llama-1B shape in bfloat16).
# On the device machine (see shared/device/README.md), carry [".whl", ".minilm16"] and run
#   <the line `bash ../shared/device/prepare.sh --print-setup` prints> bash benchmarks/gpu_check.sh
# Test it here on the CPU with a tiny setting:  TINY=1 DEVICE=cpu MINILM=<folder> bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}; mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
MINILM=${MINILM:-$PWD/.minilm16}
PY=${PY:-python3}
TINY_FLAG=$([ -n "${TINY:-}" ] && echo --tiny || true)
STEPS=$([ -n "${TINY:-}" ] && echo 2 || echo 20)
MODELS=${MODELS:-$([ -n "${TINY:-}" ] && echo bert-tiny || echo bert-base,llama-1b)}
export ADAPTGRAPH_BENCH_MODELS=${ADAPTGRAPH_BENCH_MODELS:-/tmp/bench-models}
export ADAPTGRAPH_TRACE_CACHE=${ADAPTGRAPH_TRACE_CACHE:-/tmp/trace-cache}
LOG="$OUT/log"
run() { echo "== $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"; "$@" 2>&1 | tail -n 40 | tee -a "$LOG"; }

{ date -u; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; } 2>&1 | tee "$LOG"

run $PY benchmarks/gpu_check.py equivalence --device "$DEVICE" --minilm "$MINILM" $TINY_FLAG

TASK="$OUT/gpu_task.csv"; $PY benchmarks/gpu_check.py task "$TASK"
SPEC="$OUT/baseline12.adapt"; echo 'for k in 0..11 { parallel @{k} -> @{k+1} }' > "$SPEC"
for AMP in none bf16; do
  [ "$DEVICE" = cpu ] && [ "$AMP" != none ] && continue   # autocast bf16 is a CUDA option here
  run $PY -m adaptgraph train "$SPEC" --backbone "hf:$MINILM" --task "csv:$TASK" --steps "$STEPS" \
      --batch-size 16 --device "$DEVICE" --amp "$AMP" --no-progress --out "$OUT/train-$AMP" --overwrite
done

run $PY benchmarks/gpu_check.py score --device "$DEVICE" --minilm "$MINILM" --text-task "csv:$TASK" $TINY_FLAG

run $PY benchmarks/memory.py --device "$DEVICE" --models "$MODELS" --stages loaded,compile1,compile5,step,step-ckpt \
    --label "$DEVICE" --trace-cache "$ADAPTGRAPH_TRACE_CACHE" --out "$OUT/memory.json"
echo "== done $(date -u +%H:%M:%S)" | tee -a "$LOG"
