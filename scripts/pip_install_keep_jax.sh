#!/usr/bin/env bash
# Installs requirements.txt WITHOUT replacing an accelerator JAX that is already installed
# (Colab TPU/GPU runtimes, TPU VMs, CUDA images): the jax/jaxlib pins are dropped and the
# installed jax, jaxlib and libtpu / jax-cuda plugins are held as constraints, so pip fails
# loudly instead of swapping in a CPU jaxlib if a pinned package needs another JAX.
#   bash scripts/pip_install_keep_jax.sh            # from the project root
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
tmp="$(mktemp -d)"
grep -vE '^(jax|jaxlib)==' requirements.txt > "$tmp/requirements-no-jax.txt"
"$PYTHON" -m pip freeze | grep -iE '^(jax|jaxlib|libtpu|libtpu-nightly|jax-cuda[0-9]+-(plugin|pjrt))==' \
  > "$tmp/installed-jax.txt" || true
if [ ! -s "$tmp/installed-jax.txt" ]; then
  echo "No JAX installed: install the accelerator JAX first (see docs/multihost.md)." >&2
  exit 1
fi
echo "Keeping: $(tr '\n' ' ' < "$tmp/installed-jax.txt")"
"$PYTHON" -m pip install -q -r "$tmp/requirements-no-jax.txt" -c "$tmp/installed-jax.txt"
