#!/usr/bin/env bash
# Installs what facegate's build, model fetch and tests need on Debian/Ubuntu,
# then exports FACEGATE_PYTHON (a venv with scripts/requirements.txt).
# Sourced by scripts/test.sh and scripts/demo.sh; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${FACEGATE_CACHE:-$HOME/.cache/facegate}
mkdir -p "$cache"

source "$root/scripts/need.sh"

need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v git >/dev/null || need+=(git)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v curl >/dev/null || need+=(curl)
[ -d /etc/ssl/certs ] && [ -n "$(ls -A /etc/ssl/certs 2>/dev/null)" ] || need+=(ca-certificates)
# The v4l crate generates its V4L2 bindings with bindgen, which loads libclang.
have_libclang || need+=(libclang-dev)
# `facegate calibrate --plot` draws its labels with DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# tests/usb_import.rs builds stick images without mounting: vfat (mkfs.vfat,
# mcopy), exfat and ext4 (mke2fs -d).
for p in dosfstools mtools exfatprogs e2fsprogs; do have_pkg "$p" || need+=("$p"); done
[ ${#need[@]} -eq 0 ] || need_pkgs "${need[@]}"

if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
        echo "setup: installing Rust with rustup" >&2
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    }
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# python_venv DIR REQUIREMENTS: a venv with those pinned packages, made or
# refreshed when the requirements file changed.
python_venv() {
    local venv=$1 reqs=$2
    if ! cmp -s "$reqs" "$venv/.requirements" 2>/dev/null; then
        echo "setup: python tools into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
        cp "$reqs" "$venv/.requirements"
    fi
}
python_venv "$cache/venv" "$root/scripts/requirements.txt"
export FACEGATE_PYTHON="$cache/venv/bin/python"
# The tests' references, only where asked for: TensorFlow (FaceNet parity)
# and torch (facenet-pytorch's MTCNN, MTCNN parity).
ensure_tf_python() {
    python_venv "$cache/venv-tf" "$root/scripts/requirements-tf.txt"
    export FACEGATE_TF_PYTHON="$cache/venv-tf/bin/python"
}
ensure_torch_python() {
    python_venv "$cache/venv-torch" "$root/scripts/requirements-torch.txt"
}

# dlib and face_recognition, the reference of the dlib parity tests and the
# benchmarks: dlib-bin is prebuilt, so the pins go in without their declared
# dependencies (face_recognition's would compile dlib from source).
ensure_dlib_python() {
    local venv=$cache/venv-dlib reqs=$root/scripts/requirements-dlib.txt
    if ! cmp -s "$reqs" "$venv/.requirements" 2>/dev/null; then
        echo "setup: dlib reference into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            "$(grep '^numpy==' "$root/scripts/requirements.txt")"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$reqs"
        cp "$reqs" "$venv/.requirements"
    fi
    export FACEGATE_DLIB_PYTHON="$venv/bin/python"
}

# The models, fetched and converted once (scripts/fetch-models.sh) with the
# facegate binary given, or a debug build.
ensure_models() {
    local m=$root/models
    [ -f "$m/yunet.bpk" ] && [ -f "$m/sface.bpk" ] && [ -f "$m/yunet-int8.bpk" ] && [ -f "$m/sface-int8.bpk" ] &&
        [ -f "$m/retinaface.bpk" ] && [ -f "$m/retinaface-int8.bpk" ] &&
        [ -f "$m/dlib.bpk" ] && [ -f "$m/shape_predictor_5_face_landmarks.dat" ] &&
        [ -f "$m/minifasnet_v2-int8.bpk" ] && [ -f "$m/minifasnet_v1se-int8.bpk" ] && return 0
    local bin=${1:-}
    if [ -z "$bin" ]; then
        (cd "$root" && cargo build -q)
        bin=${CARGO_TARGET_DIR:-$root/target}/debug/facegate
    fi
    (cd "$root" && FACEGATE_BIN=$bin scripts/fetch-models.sh)
}
