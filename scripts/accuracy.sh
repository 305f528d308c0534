#!/usr/bin/env bash
# Accuracy report (issue #16), beside dlib's face_recognition on the very same
# photos, pairs and galleries:
#   1:1 on every labelled set in ../shared/data: each single embedder
#       (RetinaFace boxes; int8, and fp32 for SFace and dlib), each fusion of
#       them, and dlib (scripts/accuracy_dlib.py, scored 1 - distance);
#   1:N on LFW: FNIR at FPIR for galleries of 100 and 1000 people, with and
#       without the set's errata (scripts/lfw-errata.txt).
# Every photo is embedded once per system: `facegate calibrate --embeddings`
# keeps one file per system and photo folder, which all runs on that folder
# share. Fusions: on LFW View 2 (folds 4-10) the rows are cross-validated
# (scripts/fusion_cv.py: weights fitted on six folds score the seventh); the
# other sets and 1:N use the weights fitted on all seven folds, which is what
# src/vision/fusion.rs ships.
#
# Writes markdown tables to stdout and ROC plots to docs/accuracy/.
# usage: scripts/accuracy.sh [BIN]   (BIN: a release facegate binary)
#   ACCURACY_WORK=DIR keeps the embeddings and scores there; a rerun reuses
#   them (delete them when the models change).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_dlib_python
bin=${1:-${CARGO_TARGET_DIR:-target}/release/facegate}
data=${FACEGATE_SHARED_DATA:-$root/../shared/data}
if [ -n "${ACCURACY_WORK:-}" ]; then
    work=$ACCURACY_WORK && mkdir -p "$work"
else
    work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
fi
mkdir -p docs/accuracy
lfw=$data/lfw-deepfunneled
errata=scripts/lfw-errata.txt

# id-photos-wikimedia is flat (person_a_1.jpg …): one folder per person.
ids=$work/id-photos
if [ ! -d "$ids" ]; then
    for f in "$data"/id-photos-wikimedia/*.jpg; do
        name=$(basename "$f" .jpg)
        case $name in person_*) who=${name%_*} ;; *) who=$name ;; esac
        mkdir -p "$ids/$who" && ln -s "$f" "$ids/$who/$name.jpg"
    done
fi

# slug | name | folder | folder slug | subject | calibrate arguments.
# View 2 first: the fusion weights the other rows use are fitted there.
sets=(
    "v2|LFW View 2 pairs (folds 4-10)|$lfw|lfw|central|--pairs $lfw/pairs.txt"
    "all|LFW all genuine pairs, 2 photos/person, 1M impostor pairs|$lfw|lfw|central|--per-person 2 --min-photos 2 --max-impostors 1000000"
    "johns|dlib-johns|$data/dlib-johns|johns|largest|"
    "ids|id-photos-wikimedia|$ids|ids|largest|"
)
# embedder:precision, each on every set
singles=(sface:int8 sface:fp32 dlib:int8 dlib:fp32 facenet:int8)
# fused embedder | members (their int8 runs)
fusions=("sface+dlib|sface dlib" "sface+facenet+dlib|sface facenet dlib")

fmt() { "$FACEGATE_PYTHON" scripts/calibration_row.py "$1" "$2" 0.01,0.001,0.0001; }
# Row LABEL from score file $2, a ROC plot named $3 if given.
scored() {
    local plot=()
    [ -z "${3:-}" ] || plot=(--plot "docs/accuracy/$3.png")
    fmt "$1" "$("$bin" --json calibrate --scores "$2" "${plot[@]}")"
}
# The weights fitted on all of View 2 for members $1 ("sface dlib").
weights() {
    "$FACEGATE_PYTHON" -c 'import json,sys
want = sys.argv[2].split()
for line in open(sys.argv[1]):
    j = json.loads(line)
    if list(j["members"]) == want:
        print(",".join(str(w) for w in j["weights_all_folds"]))' "$work/cv.json" "$1"
}

echo "### 1:1: pairs"
echo
echo "| set, system | genuine / impostor pairs | pairs without a face | TAR @ FAR 1e-2 | TAR @ 1e-3 | TAR @ 1e-4 | EER | EER threshold |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for entry in "${sets[@]}"; do
    IFS='|' read -r slug name dir folder subject args <<<"$entry"
    for single in "${singles[@]}"; do
        IFS=: read -r embedder precision <<<"$single"
        tag=$embedder-$precision
        tsv=$work/$slug-$tag.tsv
        if [ ! -s "$tsv" ]; then
            # shellcheck disable=SC2086
            "$bin" --json --precision "$precision" --embedder "$embedder" calibrate "$dir" \
                --subject "$subject" $args --embeddings "$work/emb-$folder-$tag.tsv" \
                --scores-out "$tsv" >/dev/null 2>&1
        fi
        plot=
        [ "$single" != sface:int8 ] || plot=$slug-sface-int8
        scored "$name, facegate $embedder $precision" "$tsv" "$plot"
    done
    for fusion in "${fusions[@]}"; do
        IFS='|' read -r fused members <<<"$fusion"
        inputs=()
        for m in $members; do inputs+=("$m=$work/$slug-$m-int8.tsv"); done
        if [ "$slug" = v2 ]; then
            "$FACEGATE_PYTHON" scripts/fusion_cv.py --out-dir "$work/cv" "${inputs[@]}" \
                >"$work/cv.json"
            scored "$name, facegate $fused int8, cross-validated" \
                "$work/cv/cv-${members// /+}.tsv" "$slug-${fused//+/-}"
        else
            "$FACEGATE_PYTHON" scripts/fusion_cv.py --weights "$(weights "$members")" \
                --out "$work/$slug-$fused.tsv" "${inputs[@]}"
            scored "$name, facegate $fused int8 (View 2 weights)" "$work/$slug-$fused.tsv"
        fi
    done
    ref=$work/$slug-dlib-reference.tsv
    [ -s "$ref" ] || "$FACEGATE_DLIB_PYTHON" scripts/accuracy_dlib.py "$dir" "$subject" \
        "$work/emb-$folder-dlib-reference.tsv" "$work/$slug-sface-int8.tsv" "$ref" 2>/dev/null
    scored "$name, dlib face_recognition (score 1 − distance)" "$ref" "$slug-dlib"
done
echo
echo "Fusion weights fitted on all of View 2 (cross-validated rows: per held-out fold):"
echo
"$FACEGATE_PYTHON" -c 'import json,sys
two = lambda ws: ", ".join("%.2f" % w for w in ws)
for line in open(sys.argv[1]):
    j = json.loads(line)
    folds = "; ".join(two(f) for f in j["weights_per_fold"])
    print("- %s: %s (per fold: %s)" % ("+".join(j["members"]), two(j["weights_all_folds"]), folds))' "$work/cv.json"

echo
echo "### 1:N on LFW (central face; 5 seeded galleries per size, one photo per person)"
echo
echo "| system | errata | gallery | mated / non-mated searches | rank-1 miss | FNIR @ FPIR 1e-2 (threshold) | FNIR @ FPIR 1e-3 (threshold) |"
echo "|---|---|---:|---:|---:|---:|---:|"
# Each system's embeddings of every LFW photo (int8 runs).
systems=()
for single in "${singles[@]}"; do
    IFS=: read -r embedder precision <<<"$single"
    [ "$precision" = int8 ] || continue
    file=$work/emb-lfw-$embedder-int8.tsv
    "$bin" --json --embedder "$embedder" calibrate "$lfw" --subject central \
        --embeddings "$file" --identification --gallery-size 100 --trials 1 >/dev/null 2>&1
    systems+=("facegate $embedder int8|$file")
done
"$FACEGATE_DLIB_PYTHON" scripts/accuracy_dlib.py "$lfw" central "$work/emb-lfw-dlib-reference.tsv" 2>/dev/null
for fusion in "${fusions[@]}"; do
    IFS='|' read -r fused members <<<"$fusion"
    inputs=()
    for m in $members; do inputs+=("$m=$work/emb-lfw-$m-int8.tsv"); done
    "$FACEGATE_PYTHON" scripts/fusion_cv.py --weights "$(weights "$members")" \
        --fuse-embeddings --out "$work/emb-lfw-$fused.tsv" "${inputs[@]}"
    systems+=("facegate $fused int8|$work/emb-lfw-$fused.tsv")
done
systems+=("dlib face_recognition (cosine of its descriptors)|$work/emb-lfw-dlib-reference.tsv")
for s in "${systems[@]}"; do
    IFS='|' read -r label file <<<"$s"
    for e in no yes; do
        extra=()
        [ $e = no ] || extra=(--same-person "$errata")
        json=$("$bin" --json calibrate "$lfw" --subject central --embeddings "$file" \
            --identification --gallery-size 100,1000 --trials 5 --far 1e-3 "${extra[@]}" 2>/dev/null)
        "$FACEGATE_PYTHON" scripts/identification_row.py "$label | $e" "$json"
    done
done

echo
echo "### 1:N with several photos enrolled per person (LFW people with 3 photos or more)"
echo
echo "| system | templates per person | gallery | mated / non-mated searches | rank-1 miss | FNIR @ FPIR 1e-2 (threshold) | FNIR @ FPIR 1e-3 (threshold) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for k in 1 2; do
    json=$("$bin" --json calibrate "$lfw" --subject central --embeddings "$work/emb-lfw-sface-int8.tsv" \
        --min-photos 3 --identification --gallery-size 100,500 --templates $k --trials 5 --far 1e-3 \
        --same-person "$errata" 2>/dev/null)
    "$FACEGATE_PYTHON" scripts/identification_row.py "facegate sface int8, with errata | $k" "$json"
done
