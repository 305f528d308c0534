#!/usr/bin/env bash
# Downloads (once, into $HIL_CACHE) and unpacks what the VM test needs.
# HIL_KERNEL=bookworm (default): Debian 12's arm64 kernel (6.1, GPIO uAPI v1
# and v2) and its modules, the headers and kbuild to build gpio-sim out of
# tree, the two gpio-sim sources from linux-source-6.1. HIL_KERNEL=sid:
# Debian unstable's newest arm64 kernel (7.x: gpio-sim shipped, no v1 uAPI),
# resolved through a private apt state for sid's arm64 index, so the host's
# own apt sources are never touched. Both: busybox-static for the guest.
# Sourced by scripts/test-hil.sh; sets KVER, KDIR (unpacked kernel), VMLINUZ,
# MODS (its modules directory) and, for bookworm, HDIR (headers), SRC (sources).
set -euo pipefail
: "${HIL_CACHE:?}"
mkdir -p "$HIL_CACHE/debs"

# The arm64 index: add the architecture once, refresh apt when it has none.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    sudo_ dpkg --add-architecture arm64
    sudo_ apt-get update -qq
fi
apt-cache show linux-image-arm64:arm64 >/dev/null 2>&1 || sudo_ apt-get update -qq

fetch() { # PACKAGE[:ARCH] -> path of its .deb in the cache
    local pkg=$1 name=${1%%:*} deb
    deb=$(ls "$HIL_CACHE/debs/${name}_"*.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
        (cd "$HIL_CACHE/debs" && apt-get "${apt_opts[@]}" download -q "$pkg" >&2)
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
BUSYBOX=$HIL_CACHE/busybox
apt_opts=()
unpack "$(fetch busybox-static:arm64)" "$BUSYBOX"

if [ "${HIL_KERNEL:-bookworm}" = sid ]; then
    need_pkgs debian-archive-keyring # sid's Release is signed with it (Ubuntu lacks it)
    sid=$HIL_CACHE/apt-sid
    mkdir -p "$sid/lists/partial" "$sid/archives/partial"
    touch "$sid/status"
    echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" >"$sid/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$sid/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o "Dir::State::Lists=$sid/lists" -o "Dir::State::Status=$sid/status" -o "Dir::Cache=$sid"
        -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1)
    [ "$(id -u)" = 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
    # A day-old index is kept: sid's kernel changes every few weeks.
    if [ -z "$(find "$sid/lists" -name '*_Packages*' -mmin -1440 2>/dev/null)" ]; then
        apt-get "${apt_opts[@]}" update -qq >&2
    fi
    KVER=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 | sed -n 's/.*Depends: linux-image-\([0-9][^ ]*-arm64\)$/\1/p' | head -1)
    [ -n "$KVER" ] || { echo "hil: cannot resolve sid's linux-image-arm64" >&2; exit 1; }
    KDIR=$HIL_CACHE/kernel-$KVER
    if [ ! -e "$KDIR/.done" ]; then
        rm -rf "$KDIR" && mkdir -p "$KDIR"
        # linux-image-X is a metapackage; the kernel and modules are these two.
        for p in "linux-binary-$KVER" "linux-modules-$KVER"; do
            dpkg-deb -x "$(fetch "$p")" "$KDIR"
        done
        ln -s usr/lib "$KDIR/lib" # where depmod -b and modprobe -d look
        touch "$KDIR/.done"
    fi
    VMLINUZ=$KDIR/usr/lib/modules/$KVER/vmlinuz
    MODS=$KDIR/usr/lib/modules/$KVER
    export KVER KDIR VMLINUZ MODS BUSYBOX
    return 0
fi

# The kernel the metapackage points at today (6.1.0-NN-arm64), resolved at run time.
KVER=$(apt-cache depends linux-image-arm64:arm64 | sed -n 's/.*Depends: linux-image-\(6\.1\.0-[0-9]*-arm64\):arm64/\1/p' | head -1)
[ -n "$KVER" ] || { echo "hil: cannot resolve linux-image-arm64's kernel" >&2; exit 1; }
abi=${KVER%-arm64}

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
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODS=$KDIR/lib/modules/$KVER
export KVER KDIR VMLINUZ MODS HDIR SRC BUSYBOX
