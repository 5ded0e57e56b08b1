#!/usr/bin/env bash
# Packs what an accelerator machine with its own preinstalled Python (JAX, Flax, Optax, Orbax,
# NumPy, matplotlib, tqdm, absl already there) lacks to run this project offline: the
# pure-Python packages it needs as wheels, and CIFAR-10 as an image folder.
#
#   bash scripts/pack_for_device.sh [OUTDIR]          # default OUTDIR: .device (git-ignored)
#   CIFAR10_DIR=../shared/data/cifar10-jpeg bash scripts/pack_for_device.sh
#
# Writes OUTDIR/wheels/*.whl (ml_collections: every config needs it; tensorboardX: event
# files, optional, skipped with a warning where missing) and OUTDIR/cifar10/{train,test}/...
# (a copy of $CIFAR10_DIR, the JPEG folder: about 57 MB). On the machine, from the project
# root (benchmarks/device_suite.sh does this itself when OUTDIR/wheels exists):
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site OUTDIR/wheels/*.whl
#   export PYTHONPATH=/tmp/site CIFAR10_DIR=$PWD/OUTDIR/cifar10
#
# The wheels are fetched for CPython $PY_VERSION on manylinux x86-64 (env PY_VERSION, default
# 3.12; PLATFORMS for other platform tags) with --no-deps: each package named here is pure
# Python and its own requirements (absl-py, PyYAML, numpy, protobuf) are on such images.
# EXTRA_WHEELS="name==version ..." adds more (e.g. the project's pinned flax/optax/orbax when
# the machine's versions do not work).
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:-.device}"
PYTHON="${PYTHON:-python3}"
PY_VERSION="${PY_VERSION:-3.12}"
PLATFORMS="${PLATFORMS:-manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64}"
# The pins of requirements.txt, so the machine runs what CI tests.
pin() { grep -iE "^$1==" requirements.txt | head -1; }
WHEELS="$(pin ml_collections) $(pin tensorboardX) ${EXTRA_WHEELS:-}"

mkdir -p "$OUTDIR/wheels"
platform_args=()
for platform in $PLATFORMS; do platform_args+=(--platform "$platform"); done
echo "wheels for CPython $PY_VERSION: $WHEELS"
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  --implementation cp "${platform_args[@]}" -d "$OUTDIR/wheels" $WHEELS

if [ -z "${CIFAR10_DIR:-}" ]; then
  echo "CIFAR10_DIR is not set: no data packed (set it to the image-folder copy of CIFAR-10)." >&2
elif [ ! -d "$CIFAR10_DIR/train" ] || [ ! -d "$CIFAR10_DIR/test" ]; then
  echo "CIFAR10_DIR=$CIFAR10_DIR has no train/ and test/ folders (an image folder is needed)." >&2
  exit 1
else
  rm -rf "$OUTDIR/cifar10"
  cp -r "$CIFAR10_DIR" "$OUTDIR/cifar10"
fi
du -sh "$OUTDIR"/* 2>/dev/null || true
echo "packed into $OUTDIR; carry it to the machine (e.g. the device tool's carry: [\"$OUTDIR\"])"
