#!/usr/bin/env bash
# 1:N report: `facegate calibrate --identification` on LFW (every photo; 5
# seeded galleries of 100 and of 1000 people, one photo each, searched by all
# the other photos), the subject of each photo the largest face and, as LFW
# intends, the central one, also with the set's label errata
# (scripts/lfw-errata.txt). Writes a markdown table to stdout.
# usage: scripts/identification.sh [BIN]   (BIN: a release facegate binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bin=${1:-${CARGO_TARGET_DIR:-target}/release/facegate}
lfw=${FACEGATE_SHARED_DATA:-$root/../shared/data}/lfw-deepfunneled
# Each photo embedded once per subject rule (`calibrate --embeddings`).
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT

echo "| system, subject face | gallery | mated / non-mated searches | rank-1 miss | FNIR @ FPIR 1e-2 (threshold) | FNIR @ FPIR 1e-3 (threshold) |"
echo "|---|---:|---:|---:|---:|---:|"
# subject | errata | extra arguments
runs=("largest||" "central||" "central|, with scripts/lfw-errata.txt|--same-person scripts/lfw-errata.txt")
for run in "${runs[@]}"; do
    IFS='|' read -r subject note args <<<"$run"
    # shellcheck disable=SC2086
    json=$("$bin" --json calibrate "$lfw" --identification --gallery-size 100,1000 \
        --trials 5 --far 1e-3 --subject "$subject" --embeddings "$work/$subject.tsv" $args 2>/dev/null)
    "$FACEGATE_PYTHON" scripts/identification_row.py "facegate RetinaFace + SFace int8, $subject$note" "$json"
done
