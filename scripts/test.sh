#!/usr/bin/env bash
# The test suite: set-up, models, build, every test (flex and ndarray backends),
# formatting and lints. Run from anywhere: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_tf_python
ensure_torch_python
ensure_dlib_python

features=(--features ndarray)
cargo build "${features[@]}"
FACEGATE_BIN="${CARGO_TARGET_DIR:-target}/debug/facegate" scripts/fetch-models.sh
cargo test "${features[@]}"
cargo fmt --check
# Lints check-build every dependency (metadata only, shared with no build
# above): in a build directory of their own, which a later run finds warm.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}-clippy" cargo clippy "${features[@]}" --all-targets -- -D warnings
# The boards are aarch64: cross-build and run the parity subset under qemu.
scripts/test-aarch64.sh --quick
# The same aarch64 binary on a real arm64 kernel under qemu-system: V4L2
# (vivid), GPIO (gpio-sim), framebuffer, start-up and crash scenarios: on
# Debian 12's 6.1 (GPIO uAPI v1 and v2) and sid's newest (v2 only).
scripts/test-hil.sh
HIL_KERNEL=sid scripts/test-hil.sh
