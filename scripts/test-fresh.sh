#!/usr/bin/env bash
# Proves the README's set-up on fresh machines: scripts/setup.sh, alone, turns a
# minimal Debian 12 (bookworm) or Debian 13 (trixie) into one that builds
# facegate. It fails if any package had to be installed by hand.
#
#   scripts/test-fresh.sh [--with-libclang-cpp] [--uncommitted] [bookworm|trixie|all]
#
# For each root (default: all):
#   1. `mmdebstrap --variant=minbase` (dpkg, apt, bash; no compiler, python,
#      git, curl or certificates), cached as ~/.cache/facegate/fresh/SUITE.tar;
#   2. unpacked into a temporary directory with proc, sys and dev mounted, the
#      host's Rust toolchain bound read-only (~/.rustup and ~/.cargo/bin: no
#      toolchain download is needed or tried) and ../shared/data beside the
#      clone bound read-only from the host's shared data;
#   3. a clean `git clone` of this repository's committed HEAD, made from the
#      host, so the root needs no git of its own;
#   4. inside the chroot: scripts/setup.sh, then what needs system libraries
#      before the long compile: the v4l2-sys-mit build script (bindgen loads
#      libclang), the venv's imports (numpy, onnx, onnxruntime, cv2), the
#      DejaVu font, ../shared/data from the clone, and a second setup.sh that
#      installs nothing.
# The script installs nothing into a root itself; the packages setup.sh
# installed (its "setup: installing" lines) are printed. apt, pip and cargo
# download caches are kept under ~/.cache/facegate/fresh/ between runs (they
# hold downloads only; every install happens again in the fresh root). The
# host's network settings come along: its proxy and CA variables, and its
# local CAs (/usr/local/share/ca-certificates, e.g. a TLS-inspecting proxy's),
# which the root trusts once setup.sh has installed ca-certificates.
#
# --with-libclang-cpp: the root also gets libclang-cpp (libclang-cpp14 on
#   bookworm, libclang-cpp19 on trixie) at creation, as the machine of issue
#   #12 had it (it comes with whatever uses clang's C++ library). It is not
#   bindgen's libclang: a probe that takes it for libclang fails here.
# --uncommitted: also apply the worktree's uncommitted changes to tracked
#   files to the clone (to try a change before committing it).
#
# Prints PASS/FAIL per root with its time; exits non-zero if any root fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FACEGATE_CACHE:-$HOME/.cache/facegate}/fresh
mirror=${FACEGATE_MIRROR:-http://deb.debian.org/debian}
shared=${FACEGATE_SHARED:-$(cd "$repo/.." && pwd)/shared}

libclang_cpp=0 uncommitted=0 which=all
for a in "$@"; do
    case "$a" in
    --with-libclang-cpp) libclang_cpp=1 ;;
    --uncommitted) uncommitted=1 ;;
    bookworm | trixie | all) which=$a ;;
    *) echo "usage: $0 [--with-libclang-cpp] [--uncommitted] [bookworm|trixie|all]" >&2; exit 2 ;;
    esac
done
[ "$which" = all ] && suites=(bookworm trixie) || suites=("$which")
[ "$(id -u)" = 0 ] || { echo "test-fresh: needs root (mmdebstrap, chroot, mount)" >&2; exit 2; }
if [ ! -d "$HOME/.rustup" ] || [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "test-fresh: needs the host's Rust toolchain in ~/.rustup and ~/.cargo/bin" >&2
    exit 2
fi
command -v mmdebstrap >/dev/null || {
    echo "test-fresh: installing mmdebstrap on the host" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
}
mkdir -p "$cache"
# The host's network settings (proxy, CA bundle) hold in the roots as well.
netenv=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
    SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE PIP_CERT GIT_SSL_CAINFO; do
    if [ -n "${!v:-}" ]; then netenv+=("$v=${!v}"); fi
done

# Mounts of the current root, innermost last; unmounted in reverse on exit.
mounts=() tmp=""
# shellcheck disable=SC2317 # run by the traps
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" || true
    done
    mounts=()
    if [ -n "$tmp" ]; then
        # Never delete through a mount that is still there (the host's toolchain).
        if grep -q " $tmp/" /proc/mounts; then
            echo "test-fresh: mounts left under $tmp; not deleting it" >&2
        else
            rm -rf --one-file-system "$tmp"
        fi
        tmp=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mnt() { # mnt [mount options...] SRC DST: mounts and remembers DST
    local dst=${*: -1}
    mkdir -p "$dst"
    mount "$@"
    mounts+=("$dst")
}
bind_ro() { # bind_ro SRC DST
    mnt --bind "$1" "$2"
    mount -o remount,bind,ro "$2"
}

# The cached minbase tarball of SUITE (built when missing).
root_tar() {
    local suite=$1 tar extra=()
    tar=$cache/$suite.tar
    if [ "$libclang_cpp" = 1 ]; then
        tar=$cache/$suite-libclang-cpp.tar
        case "$suite" in
        bookworm) extra=(--include=libclang-cpp14) ;;
        trixie) extra=(--include=libclang-cpp19) ;;
        esac
    fi
    if [ ! -s "$tar" ]; then
        local t0=$SECONDS
        echo "test-fresh: building $suite minbase root ${extra[*]}" >&2
        mmdebstrap --quiet --variant=minbase --format=tar "${extra[@]}" "$suite" "$tar.part" "$mirror" >&2
        mv "$tar.part" "$tar"
        echo "test-fresh: $tar built in $((SECONDS - t0)) s" >&2
    fi
    echo "$tar"
}

# What runs in the chroot, from the clone.
# shellcheck disable=SC2016 # expanded in the chroot
inside='
set -euo pipefail
cd /src/facegate
step() { echo "== [${SECONDS}s] $*"; }
step "scripts/setup.sh"
source scripts/setup.sh
step "scripts/setup.sh again: installs nothing"
source scripts/setup.sh 2>/tmp/setup-again.log
if grep "^setup: installing" /tmp/setup-again.log; then exit 1; fi
step "cargo build -p v4l2-sys-mit (bindgen loads libclang)"
cargo build -q -p v4l2-sys-mit
step "python venv imports ($FACEGATE_PYTHON)"
"$FACEGATE_PYTHON" -c "import numpy, onnx, onnxruntime, cv2, sys
print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"onnx\", onnx.__version__,
      \"onnxruntime\", onnxruntime.__version__, \"cv2\", cv2.__version__)"
step "DejaVu Sans"
test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
step "../shared/data from the clone"
test -f ../shared/data/id-photos-wikimedia/person_a_1.jpg
step "done"
'

# Runs one root (in a subshell, so that errexit holds), its output in LOG.
run_root() {
    local suite=$1 log=$2 tar r
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP # a subshell does not inherit the traps
    tar=$(root_tar "$suite")
    tmp=$(mktemp -d /var/tmp/facegate-fresh.XXXXXX)
    r=$tmp/root
    mkdir -p "$r"
    tar -xf "$tar" -C "$r"
    mnt -t proc proc "$r/proc"
    mnt -t sysfs sys "$r/sys"
    mnt --bind /dev "$r/dev"
    mnt --bind /dev/pts "$r/dev/pts"
    cp -L /etc/resolv.conf "$r/etc/resolv.conf"
    # The host's own CAs (a TLS-inspecting proxy's, say): ca-certificates,
    # when setup.sh installs it, adds them to the root's store.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$r/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/"
    fi
    # Rust: the host's toolchain, read-only; the registry cache is writable.
    bind_ro "$HOME/.rustup" "$r/root/.rustup"
    bind_ro "$HOME/.cargo/bin" "$r/root/.cargo/bin"
    mkdir -p "$cache/cargo-registry" "$cache/pip-$suite" "$cache/apt-$suite/partial"
    mnt --bind "$cache/cargo-registry" "$r/root/.cargo/registry"
    # Download caches only (setup.sh still installs every package).
    mnt --bind "$cache/pip-$suite" "$r/root/.cache/pip"
    mnt --bind "$cache/apt-$suite" "$r/var/cache/apt/archives"
    # The clone, beside the shared data as the README has it.
    git clone -q --no-hardlinks "$repo" "$r/src/facegate"
    git -C "$r/src/facegate" checkout -q --detach "$(git -C "$repo" rev-parse HEAD)"
    if [ "$uncommitted" = 1 ]; then
        git -C "$repo" diff HEAD | git -C "$r/src/facegate" apply --allow-empty
    fi
    if [ -d "$shared/data" ]; then bind_ro "$shared" "$r/src/shared"; fi

    chroot "$r" /usr/bin/env -i "${netenv[@]}" HOME=/root TERM=dumb LANG=C.UTF-8 \
        RUSTUP_HOME=/root/.rustup CARGO_HOME=/root/.cargo \
        PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "$inside" 2>&1 | tee "$log"
}

results=() fail=0
variant=""
[ "$libclang_cpp" = 1 ] && variant=+libclang-cpp
for suite in "${suites[@]}"; do
    echo "=== $suite$variant"
    log=$cache/$suite$variant.log
    : >"$log"
    start=$SECONDS
    set +e
    (set -e; run_root "$suite" "$log")
    rc=$?
    set -e
    if [ $rc = 0 ]; then status=PASS; else status=FAIL fail=1; fi
    installed=$(sed -n 's/^setup: installing //p' "$log" | paste -sd ' ')
    line="$status $suite$variant in $((SECONDS - start)) s; setup.sh installed: ${installed:-nothing}"
    echo "$line"
    results+=("$line")
done
echo
echo "=== test-fresh summary"
printf '%s\n' "${results[@]}"
exit $fail
