#!/usr/bin/env bash
# Builds the arm64 .deb: the release aarch64 binary, the converted models, the
# board configs, the systemd units, the udev rules and the USB import script.
# Output: ${CARGO_TARGET_DIR:-target}/aarch64-unknown-linux-gnu/debian/facegate_*_arm64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
toolchain=$(scripts/cross.sh)
ensure_models
command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked
cargo $toolchain build --release --target aarch64-unknown-linux-gnu
cargo deb --target aarch64-unknown-linux-gnu --no-build --no-strip -q >/dev/null
deb=$(ls -t "${CARGO_TARGET_DIR:-target}"/aarch64-unknown-linux-gnu/debian/facegate_*_arm64.deb | head -1)
echo "$deb"
