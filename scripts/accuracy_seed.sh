#!/usr/bin/env bash
# Every detector × embedder on LFW View 2 pairs (issue #15): `facegate
# calibrate --pairs` per combination, one markdown row each (TAR at FAR 1e-2,
# 1e-3 and 1e-4, EER and its threshold, pairs whose photos had no usable face).
# usage: scripts/accuracy_seed.sh [BIN] [FOLDS]
#   BIN: a facegate binary (default: the release build); FOLDS: how many of
#   the shared pairs.txt's folds (4-10) to use, from the first (default all 7).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bin=${1:-${CARGO_TARGET_DIR:-target}/release/facegate}
folds=${2:-7}
data=${FACEGATE_SHARED_DATA:-$root/../shared/data}
lfw=$data/lfw-deepfunneled
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
per=$(head -1 "$lfw/pairs.txt" | cut -f2)
{ printf '%s\t%s\n' "$folds" "$per"; sed -n "2,$((1 + 2 * per * folds))p" "$lfw/pairs.txt"; } >"$work/pairs.txt"

echo "| detector + embedder | genuine / impostor pairs | pairs without a face | TAR @ FAR 1e-2 | TAR @ 1e-3 | TAR @ 1e-4 | EER | EER threshold (cosine) | seconds |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for embedder in sface facenet; do
    for detector in yunet retinaface mtcnn; do
        t0=$(date +%s)
        json=$("$bin" --json --detector "$detector" --embedder "$embedder" \
            calibrate "$lfw" --pairs "$work/pairs.txt" 2>/dev/null)
        "$FACEGATE_PYTHON" scripts/calibration_row.py "$detector + $embedder" "$json" \
            0.01,0.001,0.0001 "$(($(date +%s) - t0))"
    done
done
