#!/usr/bin/env bash
# One device call on a lent GPU (H200): the gpu-marked tests, then the GPU benchmarks.
#   bash bench/gpu_check.sh            # full-size benchmarks
#   bash bench/gpu_check.sh --quick    # reduced benchmarks
# Each step has its own time limit so one hang cannot eat the whole device budget; the script goes on
# after a failed step and exits non-zero at the end if any step failed.
set -u
cd "$(dirname "$0")/.."
QUICK="${1:-}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CURATE_CACHE_DIR="${CURATE_CACHE_DIR:-$(mktemp -d)}"
LOG="${OUT:-$(mktemp -d)}/gpu_check.log"
: > "$LOG"
status=0
step() {  # step NAME SECONDS CMD...
  local name="$1" limit="$2"; shift 2
  echo "=== $name"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"; local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc in $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || status=1
}

step "environment" 60 "$PY" -c "import torch, torchvision; print(torch.__version__, torchvision.__version__, \
torch.cuda.is_available() and torch.cuda.get_device_name(0))"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA device"; exit 1; }
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true

# gpu-marked tests of every package (models, DeepAugment, ...)
step "gpu tests" 300 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests

# models: evaluation and training throughput (TARGET lines)
step "eval throughput" 240 "$PY" bench/eval_throughput.py --gpu $QUICK
step "train throughput" 240 "$PY" bench/train_throughput.py --gpu $QUICK

# DeepAugment: batched vs the released loop, Noise2Net's share of a ResNet-50 step, EDSR generation
step "deepaugment throughput" 240 "$PY" bench/deepaugment.py --gpu $QUICK

echo "=== TARGET summary (log: $LOG)"
grep "^TARGET" "$LOG" || echo "(no TARGET lines)"
exit $status
