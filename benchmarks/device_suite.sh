#!/usr/bin/env bash
# The accelerator suite: sized to at most 9 minutes on one H200 (each step has its own time
# limit, so a slow step cannot take the others' time), for a 15-minute GPU slot with start-up.
#
#   OUT=/path/to/results bash benchmarks/device_suite.sh           # on the GPU machine
#   bash benchmarks/device_suite.sh --tiny                          # the same steps on a CPU
#   bash benchmarks/device_suite.sh --tiny --steps=env,accuracy     # some steps only
#
# Steps (--steps, comma-separated; default all), each writing under $OUT (default
# ./device_suite_out):
#   env       environment: devices, driver, Python and package versions        -> env.txt
#   peer      train-step speed of the project against plain Flax and PyTorch
#             (benchmarks/pytorch_peer.py; float32 and bfloat16, batch 512;
#             PyTorch left out where it is not installed)                     -> pytorch_peer.txt
#   accuracy  ResNet-18 with the fast recipe (configs/fast.py:resnet18, bfloat16), evaluated
#             every epoch; time to 94% test accuracy (benchmarks/time_to_accuracy.py)
#                                                                             -> time_to_94.json
#   grid      grid-evaluation throughput (benchmarks/grid_eval.py, circular shifts)
#                                                                             -> grid_eval.txt
#   slice     a slice of sweeps/paper_scale.py: figure 11's stride member, seed 0, full
#             grids on 200 evaluation images, sized to a 1.5-minute budget (its plan's
#             estimates against the measured seconds test the cost model there)
#                                                                -> paper_scale.md, plan.json
#   transformers  the vision transformers (configs/vit.py, configs/cct.py, configs/afvit.py):
#             train-step speed of vit and cct against plain Flax (bfloat16, batch 512; no
#             PyTorch versions); a short run of each config (50 steps, full size, one test
#             evaluation; vit as the polyphase-anchored vit: downsample=aps, posemb=peg,
#             circular padding); their exactness (experiments/shift_exactness.py: afvit with
#             random weights, then the trained anchored vit and afvit)       -> transformers.txt
# plus suite.log (everything printed) and summary.txt (per step, or per part of the
# transformers step: status and seconds): at most 9 files, none in a sub-folder.
# Before the steps: if .device/wheels exists (scripts/pack_for_device.sh), its wheels are
# installed into a private directory on PYTHONPATH; if .device/cifar10 exists and CIFAR10_DIR
# is not set, it is the data.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TINY=0
ALL_STEPS="env,peer,accuracy,grid,slice,transformers"
STEPS="$ALL_STEPS"
for arg in "$@"; do
  case "$arg" in
    --tiny) TINY=1 ;;
    --steps=*) STEPS="${arg#--steps=}" ;;
    *) echo "usage: bash benchmarks/device_suite.sh [--tiny] [--steps=$ALL_STEPS]" >&2; exit 2 ;;
  esac
done
for step in ${STEPS//,/ }; do
  case "$step" in env|peer|accuracy|grid|slice|transformers) ;;
    *) echo "unknown step '$step'; valid: ${ALL_STEPS//,/, }" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$ROOT/device_suite_out}"
WORK="${WORK:-$(mktemp -d)}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
LOG="$OUT/suite.log"
SUMMARY="$OUT/summary.txt"
: > "$LOG"
: > "$SUMMARY"
export PYTHONUNBUFFERED=1
if [ -d "$ROOT/.device/wheels" ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/device_suite_site "$ROOT"/.device/wheels/*.whl >> "$LOG" 2>&1 \
    && export PYTHONPATH="/tmp/device_suite_site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -z "${CIFAR10_DIR:-}" ] && [ -d "$ROOT/.device/cifar10" ]; then
  export CIFAR10_DIR="$ROOT/.device/cifar10"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

has_torch() { "$PYTHON" -c "import torch" > /dev/null 2>&1; }
wants() { [[ ",$STEPS," == *",$1,"* ]]; }

# run_step NAME LIMIT_SECONDS COMMAND...: runs COMMAND under a time limit; its output goes
# to $WORK/NAME.out and suite.log.
run_step() {
  local name="$1" limit="$2"; shift 2
  local start status
  start=$(date +%s)
  echo "=== $name (limit ${limit}s): $*" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/$name.out" >> "$LOG"
  status=${PIPESTATUS[0]}
  local seconds=$(( $(date +%s) - start ))
  local verdict="ok"
  [ $status -eq 124 ] || [ $status -eq 137 ] && verdict="TIMED OUT"
  [ $status -ne 0 ] && [ "$verdict" = "ok" ] && verdict="FAILED (exit $status)"
  echo "$name: $verdict in ${seconds}s" | tee -a "$SUMMARY" "$LOG"
  return $status
}

if [ $TINY -eq 1 ]; then
  PEER=(--models=alexnet --width=4 --batch_size=32 --steps=1 --repeats=1 --dtypes=float32)
  ACCURACY_CONFIG=(--config configs/fast.py:alexnet --config.data.source=synthetic
    --config.data.synthetic_train_size=256 --config.data.synthetic_test_size=64
    --config.model.width=4 --config.train.batch_size=32 --config.train.num_epochs=2
    --config.train.log_every_steps=4 --config.train.eval_batch_size=64)
  TARGET=0.3
  GRID=(--model=alexnet --width=4 --protocol=circular_shift --num_images=2 --repeats=1)
  SLICE=(--tiny)
  TRANSFORMER_PEER=(--models=vit,cct --width=12 --batch_size=8 --steps=1 --repeats=1
    --dtypes=float32)
  TRANSFORMER_RUN=(--config.data.source=synthetic --config.data.synthetic_train_size=32
    --config.data.synthetic_test_size=16 --config.model.width=12 --config.model.depth=1
    --config.train.batch_size=8 --config.train.num_steps=2 --config.train.log_every_steps=1
    --config.train.eval_batch_size=16)
  EXACTNESS_IMAGES=2
  # guards against a hang only: a CPU shared with other work is slow
  LIMITS=(300 600 600 600 600 300 300 300 300 300)
else
  PEER=(--models=resnet18,resnet20 --batch_size=512 --steps=10 --repeats=5
    --dtypes=float32,bfloat16)
  ACCURACY_CONFIG=(--config configs/fast.py:resnet18 --config.model.dtype=bfloat16
    --config.train.log_every_steps=97 --config.train.eval_batch_size=2000)
  TARGET=0.94
  GRID=(--model=resnet20 --width=16 --protocol=circular_shift --num_images=256 --repeats=2)
  SLICE=(--sweeps=fig11 --members=stride --seeds=0 --eval_images=200 --budget_minutes=1.5
    --max_epochs=3)
  TRANSFORMER_PEER=(--models=vit,cct --batch_size=512 --steps=5 --repeats=2
    --dtypes=bfloat16)
  TRANSFORMER_RUN=(--config.train.num_steps=50 --config.train.log_every_steps=25
    --config.train.eval_batch_size=2000)
  EXACTNESS_IMAGES=16
  # env peer accuracy grid slice | transformers: peer, vit, cct, afvit, exactness. Sum 540 s:
  # the transformers' 100 s come out of env, peer, accuracy and grid (were 30 150 200 60); an
  # estimate, not measured on a GPU (each part: one to four compilations, at most 50 steps).
  LIMITS=(20 120 160 40 100 25 20 15 25 15)
fi
FRAMEWORKS="project,plain_flax"
has_torch && FRAMEWORKS="project,plain_flax,pytorch"

if wants env; then
  run_step env "${LIMITS[0]}" bash -c '
    echo "date: $(date -u +%FT%TZ)"; uname -a
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    "$0" -c "import sys, jax, jaxlib; print(\"python\", sys.version.split()[0]); print(\"jax\", jax.__version__, \"jaxlib\", jaxlib.__version__, \"backend\", jax.default_backend()); print(\"devices\", jax.devices())"
    "$0" -m pip list 2>/dev/null | grep -iE "^(jax|jaxlib|flax|optax|orbax|ml.collections|numpy|torch|tensorboardx|tqdm|matplotlib|absl|pillow|jax-cuda)" ' \
    "$PYTHON"
  cp "$WORK/env.out" "$OUT/env.txt"
fi

if wants peer; then
  run_step peer "${LIMITS[1]}" "$PYTHON" -m benchmarks.pytorch_peer "${PEER[@]}" \
    --frameworks="$FRAMEWORKS"
  cp "$WORK/peer.out" "$OUT/pytorch_peer.txt"
fi

if wants accuracy; then
  rm -rf "$WORK/accuracy"
  run_step accuracy "${LIMITS[2]}" "$PYTHON" train.py "${ACCURACY_CONFIG[@]}" \
    --workdir "$WORK/accuracy"
  "$PYTHON" -m benchmarks.time_to_accuracy --workdir "$WORK/accuracy" --target="$TARGET" \
    2>> "$LOG" | tee -a "$LOG" > "$OUT/time_to_94.json"
fi

if wants grid; then
  run_step grid "${LIMITS[3]}" "$PYTHON" -m benchmarks.grid_eval "${GRID[@]}"
  cp "$WORK/grid.out" "$OUT/grid_eval.txt"
fi

if wants slice; then
  rm -rf "$WORK/slice"
  run_step slice "${LIMITS[4]}" "$PYTHON" -m sweeps.paper_scale "${SLICE[@]}" \
    --workdir "$WORK/slice"
  cp "$WORK/slice/paper_scale.md" "$WORK/slice/plan.json" "$OUT/" 2>> "$LOG"
fi
if wants transformers; then
  run_step transformer_peer "${LIMITS[5]}" "$PYTHON" -m benchmarks.pytorch_peer \
    "${TRANSFORMER_PEER[@]}" --frameworks=project,plain_flax
  # The anchored vit: exactly invariant to integer circular shifts (configs/vit.py's docstring).
  VIT_APS=(--config.model.downsample=aps --config.model.posemb=peg --config.model.padding=circular)
  rm -rf "$WORK/vit_aps_peg" "$WORK/cct" "$WORK/afvit"
  run_step vit_aps_peg "${LIMITS[6]}" "$PYTHON" train.py --config configs/vit.py \
    "${VIT_APS[@]}" "${TRANSFORMER_RUN[@]}" --workdir "$WORK/vit_aps_peg"
  run_step cct "${LIMITS[7]}" "$PYTHON" train.py --config configs/cct.py \
    "${TRANSFORMER_RUN[@]}" --workdir "$WORK/cct"
  run_step afvit "${LIMITS[8]}" "$PYTHON" train.py --config configs/afvit.py \
    "${TRANSFORMER_RUN[@]}" --workdir "$WORK/afvit"
  run_step transformer_exactness "${LIMITS[9]}" bash -c '
    set -e
    "$0" -m experiments.shift_exactness --models=afvit
    for run in "$2" "$3"; do
      echo "trained: $run"; "$0" -m experiments.shift_exactness --workdir="$run" --num_images="$1"
    done' "$PYTHON" "$EXACTNESS_IMAGES" "$WORK/vit_aps_peg" "$WORK/afvit"
  for part in transformer_peer vit_aps_peg cct afvit transformer_exactness; do
    echo "=== $part"; cat "$WORK/$part.out"
  done > "$OUT/transformers.txt"
fi
echo "results in $OUT:"; ls "$OUT"
cat "$SUMMARY"
! grep -qv ": ok in" "$SUMMARY"
