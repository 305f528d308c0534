#!/usr/bin/env bash
# Cross-compile facegate for the boards (aarch64-unknown-linux-gnu, glibc).
# Installs the cross linker, qemu-user and the Rust target first. Prints the
# toolchain to use; `scripts/cross.sh build` builds the release binary.
#
# Rust target: `rustup target add`, or, where rustup cannot download, Debian's
# rustc-web with libstd-rust-web-dev:arm64 linked as the `debian` toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
source scripts/need.sh

pkgs=()
command -v aarch64-linux-gnu-gcc >/dev/null || pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null || pkgs+=(qemu-user-static)
# bindgen (v4l's V4L2 bindings) needs libclang; the arm64 kernel headers come
# with libc6-dev-arm64-cross.
have_libclang || pkgs+=(libclang-dev)
[ ${#pkgs[@]} -eq 0 ] || need_pkgs "${pkgs[@]}"

toolchain=""
if rustup target list --installed 2>/dev/null | grep -qx "$TARGET" ||
    rustup target add "$TARGET" >/dev/null 2>&1; then
    toolchain=""
else
    echo "cross: rustup cannot fetch $TARGET; using Debian's rustc-web" >&2
    sudo_ dpkg --add-architecture arm64
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq rustc-web cargo-web \
        "libstd-rust-web-dev:arm64" >/dev/null
    rustup toolchain list | grep -q '^debian' || rustup toolchain link debian /usr
    toolchain=+debian
fi

if [ "${1:-}" = build ]; then
    cargo $toolchain build --release --target "$TARGET"
    echo "${CARGO_TARGET_DIR:-target}/$TARGET/release/facegate"
else
    echo "$toolchain"
fi
