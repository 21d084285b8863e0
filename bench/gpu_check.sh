#!/usr/bin/env bash
# The GPU checks of issues 14 and 15 as one prepared run on a CUDA machine with torch
# (diffusers and the appliance's own dependencies installed or on PYTHONPATH):
#
#   bench/gpu_check.sh training     # LoRA training: s/100 steps, peak memory, a customer's wait
#   bench/gpu_check.sh interactive  # the interactive round: ours vs raw vs compiled raw
#   bench/gpu_check.sh full         # the 30-step round with guidance, the same three ways
#   bench/gpu_check.sh diagnose     # the interactive round, raw and ours, with torch.profiler's tables
#
# Each stage has its own time limit, so one that hangs leaves the others' figures. The
# output goes to the terminal and to $OUT/gpu-check.log (OUT defaults to /tmp).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp}
LOG="$OUT/gpu-check.log"
export PYTHONUNBUFFERED=1
export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-$(nproc)}
PYTHON=${PYTHON:-python3}

quiet() { grep -v -e "should be kept in float32" -e "^  warnings.warn" -e "FutureWarning" ; }

stage() {  # stage LIMIT_SECONDS COMMAND...
    local limit=$1; shift
    echo "== $* (limit ${limit} s)" | tee -a "$LOG"
    local began=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | quiet | tee -a "$LOG"
    echo "== exit ${PIPESTATUS[0]} after $((SECONDS - began)) s" | tee -a "$LOG"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
"$PYTHON" -c "import torch, diffusers, transformers, peft; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" 2>&1 | tee -a "$LOG"
for what in "$@"; do
    case $what in
        training) stage "${LIMIT_TRAINING:-150}" "$PYTHON" bench/lora_training.py --steps 40 --warmup 3 ;;
        interactive) stage "${LIMIT_INTERACTIVE:-270}" "$PYTHON" bench/sdxl_gpu.py --rounds interactive --repeats 3 ;;
        diagnose) stage "${LIMIT_DIAGNOSE:-330}" "$PYTHON" bench/sdxl_gpu.py --rounds interactive --repeats 1 \
                      --ways "raw,ours" --profile ;;
        full) stage "${LIMIT_FULL:-300}" "$PYTHON" bench/sdxl_gpu.py --rounds full --repeats 2 ;;
        *) echo "unknown stage $what: training, interactive, diagnose or full" >&2; exit 2 ;;
    esac
done
