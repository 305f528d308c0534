#!/usr/bin/env bash
# The VM test (issue #14): the real aarch64 facegate binary on a real arm64
# Linux kernel (Debian bookworm's 6.1, or sid's 7.x) under qemu-system-aarch64 (TCG), with
# vivid as the camera and gpio-sim as the door's GPIO lines. Builds what it
# needs (downloads cached under ~/.cache/facegate/hil), boots the guest, runs
# scripts/hil/scenarios.sh there and exits with its status (non-zero when a
# scenario failed). What is proven and the times: docs/hil.md.
#
#   scripts/test-hil.sh            build, boot, run the scenarios
#   FACEGATE_LOG=debug scripts/test-hil.sh   the terminal logs per-frame spans
#   HIL_BEFORE=OLD/facegate scripts/test-hil.sh   also measure an older aarch64
#                                  binary's face-to-pulse lag first (docs/hil.md)
#   HIL_KERNEL=sid scripts/test-hil.sh   on Debian unstable's newest kernel,
#                                  whose GPIO uAPI is v2 only (no CONFIG_GPIO_CDEV_V1)
#
# Output: ${CARGO_TARGET_DIR:-target}/hil/out/ (scenarios.log, facegate.log,
# relay.log, events.log, console.log).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/setup.sh
export HIL_CACHE=${FACEGATE_CACHE:-$HOME/.cache/facegate}/hil
target=${CARGO_TARGET_DIR:-$root/target}
work=$target/hil
data=$(cd "${FACEGATE_SHARED_DATA:-../shared/data}" && pwd)

# qemu-system-aarch64: bookworm-backports' 10.0 (bookworm's 7.2 conflicts
# with the backported qemu-utils that the image scripts install).
if ! command -v qemu-system-aarch64 >/dev/null; then
    if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
            sudo_ tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
        sudo_ apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends \
        -t bookworm-backports qemu-system-arm >/dev/null
fi
command -v depmod >/dev/null || PATH=$PATH:/usr/sbin:/sbin
need_pkgs kmod cpio xz-utils
toolchain=$(scripts/cross.sh)

echo "== kernel, headers, gpio-sim" >&2
source scripts/hil/fetch.sh
# The module index (sid's package ships none): once, before any lookup.
[ -e "$MODS/modules.dep" ] || depmod -b "$KDIR" "$KVER"
# gpio-sim: a module of the kernel's own when it ships one (sid), else built.
if modprobe -d "$KDIR" -S "$KVER" --show-depends gpio-sim >/dev/null 2>&1; then
    GPIO_SIM_DIR=
else
    source scripts/hil/gpio-sim.sh
fi
cdev_v1=$(grep -q '^CONFIG_GPIO_CDEV_V1=y' "$MODS/config" "$KDIR/boot/config-$KVER" 2>/dev/null && echo "v1 and v2" || echo "v2 only")
echo "hil: kernel $KVER (GPIO uAPI $cdev_v1)" >&2

echo "== building facegate (host, for enrolment) and facegate + facegate-hil (aarch64, debug)" >&2
# HIL_HOST_FACEGATE: an x86 facegate binary already built (enrolment only).
host_bin=${HIL_HOST_FACEGATE:-$target/debug/facegate}
[ -n "${HIL_HOST_FACEGATE:-}" ] || cargo build -q --features ndarray --bin facegate
# In the cross build's own directory, shared with scripts/test-aarch64.sh.
CARGO_TARGET_DIR=$target-aarch64 cargo $toolchain build -q --target aarch64-unknown-linux-gnu \
    --bin facegate --bin facegate-hil
arm=$target-aarch64/aarch64-unknown-linux-gnu/debug
ensure_models "$host_bin"

# The 9p share: binaries, models, gallery, config, scene pictures, scenarios.
share=$work/share
rm -rf "$work" && mkdir -p "$share/models" "$share/board" "$share/scene" "$share/out/inbox"
cp "$arm/facegate" "$arm/facegate-hil" "$share/"
[ -z "${HIL_BEFORE:-}" ] || cp "$HIL_BEFORE" "$share/facegate-before"
cp models/retinaface-int8.bpk models/yunet-int8.bpk models/sface-int8.bpk \
    models/minifasnet_v2-int8.bpk models/minifasnet_v1se-int8.bpk "$share/models/"
cp board/qemu.toml "$share/board/"
cp scripts/hil/scenarios.sh "$share/"
ids=$data/id-photos-wikimedia
cp "$ids/person_a_2.jpg" "$ids/impostor_1.jpg" "$share/scene/"
mkdir -p "$work/people/Emmanuel Macron" "$work/people/Jacinda Ardern"
cp "$ids/person_a_1.jpg" "$work/people/Emmanuel Macron/"
cp "$ids/person_b_1.jpg" "$work/people/Jacinda Ardern/"
echo "== enrolling the test gallery (host binary)" >&2
"$host_bin" enroll "$work/people" --out "$share/gallery.fgal" >"$work/enroll.log" 2>&1 ||
    { cat "$work/enroll.log"; exit 1; }

# The initramfs: busybox, the arm64 glibc, the modules in load order (vivid,
# bochs-drm for a framebuffer on qemu's bochs-display, 9p), /init.
rd=$work/initramfs
mkdir -p "$rd"/{bin,lib/modules,proc,sys,dev,run,hil}
cp "$BUSYBOX/bin/busybox" "$rd/bin/"
ln -s busybox "$rd/bin/sh"
for lib in ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libgcc_s.so.1; do
    cp -L "/usr/aarch64-linux-gnu/lib/$lib" "$rd/lib/"
done
: >"$rd/lib/modules/order"
add_module() { # PATH [ARGS]: once each, in dependency order, uncompressed
    local name=${1##*/}
    name=${name%.xz}
    grep -q "^$name " "$rd/lib/modules/order" && return 0
    case $1 in
    *.xz) xz -dc "$1" >"$rd/lib/modules/$name" ;;
    *) cp "$1" "$rd/lib/modules/" ;;
    esac
    echo "$name ${2:-}" >>"$rd/lib/modules/order"
}
mods="virtio_pci 9pnet_virtio 9p configfs vivid bochs"
[ -z "$GPIO_SIM_DIR" ] && mods="$mods gpio-sim"
for m in $mods; do
    while read -r kind path args; do
        [ "$kind" = insmod ] || continue # "builtin NAME": in the kernel image
        case ${path##*/} in vivid.ko*) args="n_devs=1 node_types=0x101 vid_cap_nr=0 vid_out_nr=1 num_inputs=1 input_types=0x3 num_outputs=1 output_types=0x1" ;; esac
        add_module "$path" "$args"
    done < <(modprobe -d "$KDIR" -S "$KVER" --show-depends "$m")
done
if [ -n "$GPIO_SIM_DIR" ]; then
    [ -e "$GPIO_SIM_DIR/irq_sim.ko" ] && add_module "$GPIO_SIM_DIR/irq_sim.ko"
    add_module "$GPIO_SIM_DIR/gpio-sim.ko"
fi
cp scripts/hil/init.sh "$rd/init"
(cd "$rd" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

echo "== booting $KVER under qemu-system-aarch64 (TCG, 2 cpus)" >&2
t0=$(date +%s)
timeout --foreground "${HIL_TIMEOUT:-1500}" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 \
    -nographic -no-reboot -nic none \
    -kernel "$VMLINUZ" -initrd "$work/initramfs.gz" \
    -append "console=ttyAMA0 quiet loglevel=4 panic=-1" \
    -virtfs "local,path=$share,mount_tag=hil,security_model=none,id=hil" \
    -device bochs-display,xres=320,yres=240,romfile= \
    </dev/null | tee "$share/out/console.log" || true
echo "hil: guest ran $(($(date +%s) - t0)) s; results in $share/out" >&2
status=$(cat "$share/out/status" 2>/dev/null || echo "no status (the guest did not finish)")
# The kernel's own answer to the two GPIO uAPIs, against its config.
uapi=$(cat "$share/out/uapi" 2>/dev/null || echo "not probed")
case "$cdev_v1:$uapi" in
"v2 only:v1 no"*" v2 yes" | "v1 and v2:v1 yes v2 yes") echo "PASS GPIO uAPI $cdev_v1: the kernel answered $uapi" >>"$share/out/scenarios.log" ;;
*)
    echo "FAIL GPIO uAPI: config says $cdev_v1, the kernel answered $uapi" >>"$share/out/scenarios.log"
    [ "$status" != 0 ] || status="1 (GPIO uAPI)"
    ;;
esac
grep -E '^(PASS|FAIL)' "$share/out/scenarios.log" 2>/dev/null || true
if [ "$status" != 0 ]; then
    echo "hil: FAILED ($status)" >&2
    exit 1
fi
echo "hil: all scenarios passed" >&2
