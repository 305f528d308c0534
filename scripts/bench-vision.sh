#!/usr/bin/env bash
# Model speed, burn vs onnxruntime side by side, at 1 and 2 threads.
# Prints markdown tables (the README quotes them). BENCH_ITERS sets iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
[ -f models/yunet.bpk ] || scripts/fetch-models.sh
cargo bench --features ndarray --bench vision --no-run -q
for t in 1 2; do
    RAYON_NUM_THREADS=$t cargo bench --features ndarray --bench vision -q 2>/dev/null | grep -E '^\||thread'
done
