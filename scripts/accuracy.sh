#!/usr/bin/env bash
# Accuracy report: `facegate calibrate` on every labelled set in ../shared/data
# with the fp32 and the int8 models, and dlib's face_recognition on the very
# same pairs (scripts/accuracy_dlib.py → `facegate calibrate --scores`).
# Writes a markdown section to stdout and ROC plots to docs/accuracy/.
# usage: scripts/accuracy.sh [BIN]   (BIN: a release facegate binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bin=${1:-${CARGO_TARGET_DIR:-target}/release/facegate}
data=${FACEGATE_SHARED_DATA:-$root/../shared/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p docs/accuracy

# id-photos-wikimedia is flat (person_a_1.jpg …): one folder per person.
ids=$work/id-photos
for f in "$data"/id-photos-wikimedia/*.jpg; do
    name=$(basename "$f" .jpg)
    case $name in person_*) who=${name%_*} ;; *) who=$name ;; esac
    mkdir -p "$ids/$who" && ln -s "$f" "$ids/$who/$name.jpg"
done

# name | folder | calibrate arguments
sets=(
    "dlib-johns|$data/dlib-johns|"
    "id-photos-wikimedia|$ids|"
    "LFW View 2 pairs (folds 4-10)|$data/lfw-deepfunneled|--pairs $data/lfw-deepfunneled/pairs.txt"
    "LFW all genuine pairs, 2 photos/person, 1M impostor pairs|$data/lfw-deepfunneled|--per-person 2 --min-photos 2 --max-impostors 1000000"
)

row() { "$FACEGATE_PYTHON" scripts/calibration_row.py "$1" "$2" 0.01,0.001,0.0001; }

echo "| set, system | genuine / impostor pairs | pairs without a face | TAR @ FAR 1e-2 | TAR @ 1e-3 | TAR @ 1e-4 | EER | EER threshold |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for entry in "${sets[@]}"; do
    IFS='|' read -r name dir args <<<"$entry"
    slug=$(echo "$name" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | cut -c1-40 | sed 's/-$//')
    for precision in fp32 int8; do
        # shellcheck disable=SC2086
        json=$("$bin" --json --precision "$precision" calibrate "$dir" $args \
            --scores-out "$work/$slug.tsv" --plot "docs/accuracy/$slug-$precision.png" 2>/dev/null)
        row "$name, facegate $precision" "$json"
    done
    "$FACEGATE_PYTHON" scripts/accuracy_dlib.py "$dir" "$work/$slug.tsv" "$work/$slug-dlib.tsv" 2>/dev/null
    json=$("$bin" --json calibrate --scores "$work/$slug-dlib.tsv" --plot "docs/accuracy/$slug-dlib.png")
    row "$name, dlib face_recognition (score 1 − distance)" "$json"
done
