#!/usr/bin/env bash
# Cross-compile the test suite for aarch64 and run it under qemu-user (the
# runner in .cargo/config.toml): parity with onnxruntime (the reference script
# runs natively on the host), accuracy, bad input and unit tests, on the
# default flex backend.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
toolchain=$(scripts/cross.sh)
[ -f models/yunet.bpk ] && [ -f models/sface.bpk ] || {
    cargo build
    FACEGATE_BIN="${CARGO_TARGET_DIR:-target}/debug/facegate" scripts/fetch-models.sh
}
# The kernel here may have no binfmt_misc entry for aarch64: tests that start
# the facegate binary run it through qemu explicitly.
export FACEGATE_TEST_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
cargo $toolchain test --target aarch64-unknown-linux-gnu "$@"
