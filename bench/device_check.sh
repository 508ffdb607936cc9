#!/usr/bin/env bash
# The first lent GPU measured in one prepared call (issue 25; bench/README.md, "GPU check").
#
#   make device-bundle                       # here: the carry folder .device-bundle (<= 60 MiB)
#   bench/device_check.sh                    # there, with .device-bundle carried: <= 8 minutes
#   make device-rehearse                     # here: the same script, tiny sizes, on this CPU,
#                                            # in a venv like the GPU image (no TensorFlow)
#
# It installs the bundle's wheels offline (--no-index) beside the image's packages, runs
# sweeplab from src/ (no `pip install -e .`: that would fetch tensorflow-cpu), records
# nvidia-smi and JAX's devices, runs tests_jax, times per model-epoch (q5 MLP, q9 CNN; K = 1,
# 10, the largest that fits; vmap against lax.map) and the assignment's studies, and writes
# $OUT/device_check.json (after every step) and $OUT/device_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
if [ "${1:-}" = "--rehearse" ]; then MODE=rehearse; fi
BUNDLE=${BUNDLE:-.device-bundle}
OUT=${OUT:-/tmp/device-check}
mkdir -p "$OUT"
if [ "$MODE" = rehearse ]; then
  PY=${REHEARSE_PYTHON:-.rehearse-venv/bin/python}
  LIMIT=1000  # no step skipped for time: CI checks them all
else
  PY=${PYTHON:-python3}
  LIMIT=500  # 8 minutes of work + install; the call's timeout leaves a rerun
fi
SITE=$(mktemp -d /tmp/sweeplab-site.XXXXXX)
{
  echo "== device_check $MODE, $(date -u +%FT%TZ), $PY ($("$PY" --version 2>&1))"
  [ -f "$BUNDLE/manifest.json" ] || { echo "no $BUNDLE/manifest.json: run make device-bundle"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
    "$BUNDLE"/wheels/*.whl || { echo "offline install of $BUNDLE/wheels failed"; exit 3; }
  # No preallocation: tests_jax and the studies run in processes of their own beside this
  # one; each takes the device memory it uses (JAX's default takes 75% at the first use).
  export PYTHONPATH="$PWD/src:$SITE" KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
  ARGS=(--bundle "$BUNDLE" --out "$OUT")
  if [ "$MODE" = rehearse ]; then ARGS+=(--rehearse); fi
  timeout "$LIMIT" "$PY" bench/device_check.py "${ARGS[@]}"
  rc=$?
  echo "== device_check.py exit $rc; JSON: $OUT/device_check.json"
  exit $rc
} 2>&1 | tee "$OUT/device_check.log"
rc=${PIPESTATUS[0]}
rm -rf "$SITE"
exit "$rc"
