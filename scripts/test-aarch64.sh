#!/usr/bin/env bash
# Cross-compile the test suite for aarch64 and run it under qemu-user (the
# runner in .cargo/config.toml), on the default flex backend. The reference
# script for the parity test runs natively on the host.
#
#   scripts/test-aarch64.sh            every test (~10 min of emulation)
#   scripts/test-aarch64.sh --quick    CI's subset: unit tests, model parity
#                                      with onnxruntime, gallery format
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
toolchain=$(scripts/cross.sh)
ensure_models
# The cross build has its own build directory beside the native one: the two
# share no artifacts, and neither waits for the other's lock.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}-aarch64"
# The kernel here may have no binfmt_misc entry for aarch64: tests that start
# the facegate binary run it through qemu explicitly.
export FACEGATE_TEST_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
if [ "${1:-}" = --quick ]; then
    shift
    cargo $toolchain test --target aarch64-unknown-linux-gnu --lib --test parity --test gallery_format "$@"
else
    cargo $toolchain test --target aarch64-unknown-linux-gnu "$@"
fi
