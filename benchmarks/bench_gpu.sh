#!/usr/bin/env bash
# GPU benchmark, one prepared script: images/s per model and end to end (JPEG decode overlapped
# with inference) for dinov2-small + siglip-base and dinov2-base + siglip-large, random-weight
# real-architecture models (benchmarks/make_bench_models.py, no torch), batch sizes 32..128.
#
#   bash benchmarks/bench_gpu.sh            # full run (GPU: < 5 min on one H200-class GPU)
#   bash benchmarks/bench_gpu.sh --quick    # smoke run: 1-layer towers, one batch size, CPU ok
#   bash benchmarks/bench_gpu.sh --dry-run  # print the plan, run nothing
#
# CUDA: when nvidia-smi sees a GPU and the current onnxruntime has no CUDA provider, the script
# makes a venv (system site packages visible) and installs onnxruntime-gpu[cuda,cudnn] there
# (from $VV_WHEELS with --no-index when set: a machine without a registry). No GPU: it says that
# CUDA is absent and measures the CPU instead (small). Models go to $VV_BENCH_DIR (default
# /tmp/vv_gpu_bench); they are rebuilt only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
DRY=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $arg (use --quick, --dry-run)" >&2; exit 2 ;;
  esac
done
OUT="${VV_BENCH_DIR:-/tmp/vv_gpu_bench}"
PY="${PYTHON:-python}"
T0=$SECONDS
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE  # benchmarks run on the BLAS kernel numpy picks

run() {  # echo, then run unless --dry-run
  echo "+ $*"
  if [ "$DRY" = 0 ]; then "$@"; fi
}

has_cuda_ep() {
  "$1" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null
}

GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  GPU=1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "CUDA is absent (no nvidia-smi or no GPU visible): measuring the CPU instead"
fi

if [ "$GPU" = 1 ] && ! has_cuda_ep "$PY"; then
  echo "onnxruntime here has no CUDA provider: installing onnxruntime-gpu into $OUT/venv"
  if [ "$DRY" = 0 ]; then
    mkdir -p "$OUT"
    "$PY" -m venv --system-site-packages "$OUT/venv"
    PIP=("$OUT/venv/bin/python" -m pip install -q)
    if [ -n "${VV_WHEELS:-}" ]; then PIP+=(--no-index --find-links "$VV_WHEELS"); fi
    if "${PIP[@]}" "onnxruntime-gpu[cuda,cudnn]" && has_cuda_ep "$OUT/venv/bin/python"; then
      PY="$OUT/venv/bin/python"
    else
      echo "could not install onnxruntime-gpu (no registry? set VV_WHEELS=DIR with the wheels):"
      echo "measuring the CPU instead"
      GPU=0
    fi
  fi
fi
"$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"

if [ "$QUICK" = 1 ]; then
  PAIRS=small; VARIANTS=fp32; BATCHES=8; IMAGES=8; REPEAT=1; EXTRA=(--depth 1)
  MODELS="$OUT/quick"
  echo "quick mode: one layer per tower (not the real cost; checks that everything runs)"
elif [ "$GPU" = 1 ]; then
  PAIRS=small,large; VARIANTS=fp16,fp32; BATCHES=32,64,128; IMAGES=512; REPEAT=2; EXTRA=()
  MODELS="$OUT/models"
else
  PAIRS=small; VARIANTS=quantized,fp32; BATCHES=8,32; IMAGES=32; REPEAT=2; EXTRA=()
  MODELS="$OUT/models"
fi
PROVIDERS=cpu
if [ "$GPU" = 1 ]; then PROVIDERS=cuda; fi

run "$PY" benchmarks/make_bench_models.py --out "$MODELS" --builder onnx --pairs "$PAIRS" \
  --variants "$VARIANTS" --no-check ${EXTRA[@]+"${EXTRA[@]}"}
echo "models ready after $((SECONDS - T0)) s"

DIRS=()
for v in ${VARIANTS//,/ }; do
  DIRS+=(--models-dir "$MODELS/$v")
  if [[ "$PAIRS" == *large* ]]; then DIRS+=(--models-dir "$MODELS/large-$v"); fi
done
echo "images/s: visual = DINOv2 alone, semantic = SigLIP vision alone, both = the two on"
echo "preprocessed tensors, end-to-end = Encoders.embed_images on JPEG files (decode overlapped)"
run "$PY" benchmarks/bench_encoders.py "${DIRS[@]}" --providers "$PROVIDERS" \
  --batches "$BATCHES" --images "$IMAGES" --repeat "$REPEAT"
echo "total $((SECONDS - T0)) s"
