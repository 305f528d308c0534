#!/usr/bin/env bash
# Downloads (once, into $HIL_CACHE) and unpacks what the VM test needs from
# Debian bookworm: the arm64 kernel and its modules, the headers and kbuild to
# build gpio-sim out of tree, the two gpio-sim sources from linux-source-6.1,
# and busybox-static for the guest. Sourced by scripts/test-hil.sh; sets
# KVER (6.1.0-NN-arm64), KDIR (unpacked kernel), HDIR (headers), SRC (sources).
set -euo pipefail
: "${HIL_CACHE:?}"
mkdir -p "$HIL_CACHE/debs"

# The arm64 index: add the architecture once, refresh apt when it has none.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    sudo_ dpkg --add-architecture arm64
    sudo_ apt-get update -qq
fi
apt-cache show linux-image-arm64:arm64 >/dev/null 2>&1 || sudo_ apt-get update -qq

# The kernel the metapackage points at today (6.1.0-NN-arm64), resolved at run time.
KVER=$(apt-cache depends linux-image-arm64:arm64 | sed -n 's/.*Depends: linux-image-\(6\.1\.0-[0-9]*-arm64\):arm64/\1/p' | head -1)
[ -n "$KVER" ] || { echo "hil: cannot resolve linux-image-arm64's kernel" >&2; exit 1; }
abi=${KVER%-arm64}

fetch() { # PACKAGE[:ARCH] -> path of its .deb in the cache
    local pkg=$1 name=${1%%:*} deb
    deb=$(ls "$HIL_CACHE/debs/${name}_"*.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
        (cd "$HIL_CACHE/debs" && apt-get download -q "$pkg" >&2)
        deb=$(ls "$HIL_CACHE/debs/${name}_"*.deb | head -1)
    fi
    echo "$deb"
}
unpack() { # DEB DIR: unpack once
    [ -e "$2/.done" ] && return 0
    rm -rf "$2" && mkdir -p "$2"
    dpkg-deb -x "$1" "$2"
    touch "$2/.done"
}

KDIR=$HIL_CACHE/kernel-$KVER
HDIR=$HIL_CACHE/headers-$KVER
SRC=$HIL_CACHE/src-6.1-v2
unpack "$(fetch "linux-image-$KVER:arm64")" "$KDIR"
if [ ! -e "$HDIR/.done" ]; then
    rm -rf "$HDIR" && mkdir -p "$HDIR"
    # The arm64 headers link scripts/ and tools/ to the kbuild package, whose
    # host tools (fixdep, modpost) must run here: the amd64 build of it.
    for p in "linux-headers-$KVER:arm64" "linux-headers-$abi-common" "linux-kbuild-6.1:amd64"; do
        dpkg-deb -x "$(fetch "$p")" "$HDIR"
    done
    touch "$HDIR/.done"
fi
if [ ! -e "$SRC/.done" ]; then
    rm -rf "$SRC" && mkdir -p "$SRC"
    src_deb=$(fetch linux-source-6.1)
    dpkg-deb --fsys-tarfile "$src_deb" | tar -x -C "$SRC" --wildcards './usr/src/linux-source-6.1.tar.xz'
    tar -xJf "$SRC/usr/src/linux-source-6.1.tar.xz" -C "$SRC" --strip-components=1 \
        linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h \
        linux-source-6.1/kernel/irq/irq_sim.c
    rm -rf "$SRC/usr"
    touch "$SRC/.done"
fi
BUSYBOX=$HIL_CACHE/busybox
unpack "$(fetch busybox-static:arm64)" "$BUSYBOX"
export KVER KDIR HDIR SRC BUSYBOX
