#!/usr/bin/env bash
# All benchmarks, each beside its reference in the same run: models vs
# onnxruntime (1 and 2 threads), 1:N search vs numpy (1 and 2 threads).
# Prints markdown tables. BENCH_ITERS sets iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_models
"$FACEGATE_PYTHON" -m pip install -q --no-deps -r scripts/requirements-dlib.txt
cargo bench --features ndarray --no-run -q
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
for t in 1 2; do
    RAYON_NUM_THREADS=$t cargo bench --features ndarray --bench vision -q 2>/dev/null | grep -E '^\||thread|gallery'
done
for t in 1 2; do
    RAYON_NUM_THREADS=$t cargo bench --features ndarray --bench search -q 2>/dev/null | grep -E '^\||thread|gallery'
done
for t in 1 2; do
    RAYON_NUM_THREADS=$t cargo bench --features ndarray --bench terminal -q 2>/dev/null | grep -E '^\||^#|fps|frames'
done
