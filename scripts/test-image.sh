#!/usr/bin/env bash
# The image tier of the VM test (issue #14; not in CI: it builds an SD image).
# Boots the SD image of scripts/build-image.sh itself under
# qemu-system-aarch64 (TCG): the image's own kernel and initrd, its root
# partition on a virtio disk, qemu's PL061 as the door's GPIO chip, vivid as
# the camera, bochs-display as the framebuffer; then hot-plugs a USB stick
# (`usb-storage` on a FAT image) holding a signed gallery. A check unit in the
# guest (scripts/hil/image-check.sh) asserts READY by sd_notify, the hardened
# unit staying up with its devices open, the stick's gallery installed through
# udev -> facegate-usb@ -> inbox, and the watchdog restarting a SIGSTOPped
# process. Root only (it edits the image copy with mtools and debugfs).
#
#   scripts/test-image.sh [IMAGE]   # default: image-out/facegate-rpi-arm64.img
#                                   # (built first when missing)
# Output: ${CARGO_TARGET_DIR:-target}/image-test/ (console.log, checks.log).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
target=${CARGO_TARGET_DIR:-$PWD/target}
work=$target/image-test
data=$(cd "${FACEGATE_SHARED_DATA:-../shared/data}" && pwd)
img=${1:-image-out/facegate-rpi-arm64.img}
started=$(date +%s)
[ -f "$img" ] || scripts/build-image.sh
command -v qemu-system-aarch64 >/dev/null || { echo "image test: run scripts/test-hil.sh once (installs qemu)" >&2; exit 1; }
need_pkgs mtools dosfstools e2fsprogs fdisk socat
command -v sfdisk >/dev/null || PATH=$PATH:/usr/sbin:/sbin

rm -rf "$work" && mkdir -p "$work"
echo "== a copy of $img" >&2
cp --sparse=always "$img" "$work/disk.img"
part() { # TYPE -> "start size" in sectors
    sfdisk -d "$work/disk.img" | awk -F'[=,]' -v t="$1" '$0 ~ "type=" t {gsub(/ /,""); print $2, $4; exit}'
}
read -r boot_start _ < <(part c)
read -r root_start root_size < <(part 83)
fat="$work/disk.img@@$((boot_start * 512))"

echo "== site settings on the FAT partition (what an installer copies)" >&2
host_bin=${HIL_HOST_FACEGATE:-$target/debug/facegate}
[ -x "$host_bin" ] || cargo build -q --bin facegate
"$host_bin" keygen --out "$work/site" >/dev/null
mcopy -o -i "$fat" board/qemu-image.toml ::/facegate/facegate.toml
mcopy -o -i "$fat" "$work/site.pub" ::/facegate/keys/site.pub
echo facegate-vm > "$work/hostname" && mcopy -o -i "$fat" "$work/hostname" ::/facegate/hostname
mcopy -i "$fat" ::/vmlinuz "$work/vmlinuz"
mcopy -i "$fat" ::/initrd.img "$work/initrd.img"

echo "== the test's check unit and vivid on the root partition (debugfs, no mount)" >&2
dd if="$work/disk.img" of="$work/root.ext4" bs=512 skip="$root_start" count="$root_size" status=none
cat >"$work/check.service" <<'UNIT'
[Unit]
Description=facegate image test checks (scripts/test-image.sh)
After=multi-user.target facegate.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/facegate-image-check
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
echo vivid >"$work/vivid.conf"
echo "options vivid n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0" >"$work/vivid-options.conf"
debugfs -w "$work/root.ext4" >/dev/null 2>&1 <<EOF
mkdir /usr/local/sbin
write scripts/hil/image-check.sh /usr/local/sbin/facegate-image-check
sif /usr/local/sbin/facegate-image-check mode 0100755
write $work/check.service /etc/systemd/system/facegate-image-check.service
symlink /etc/systemd/system/multi-user.target.wants/facegate-image-check.service /etc/systemd/system/facegate-image-check.service
write $work/vivid.conf /etc/modules-load.d/facegate-test-vivid.conf
write $work/vivid-options.conf /etc/modprobe.d/facegate-test-vivid.conf
EOF
debugfs -R "stat /usr/local/sbin/facegate-image-check" "$work/root.ext4" 2>/dev/null | grep -q 'Mode:  0755' ||
    { echo "image test: could not add the check unit" >&2; exit 1; }
dd if="$work/root.ext4" of="$work/disk.img" bs=512 seek="$root_start" conv=notrunc,sparse status=none
rm "$work/root.ext4"

echo "== the USB stick: a signed gallery of two ID photos" >&2
mkdir -p "$work/people/Emmanuel Macron" "$work/people/Jacinda Ardern"
cp "$data/id-photos-wikimedia/person_a_1.jpg" "$work/people/Emmanuel Macron/"
cp "$data/id-photos-wikimedia/person_b_1.jpg" "$work/people/Jacinda Ardern/"
ensure_models "$host_bin"
"$host_bin" enroll "$work/people" --out "$work/gallery.fgal" --sign "$work/site.key" >"$work/enroll.log" 2>&1 ||
    { cat "$work/enroll.log"; exit 1; }
# As sticks come: an MBR with one FAT32 partition at 1 MiB (/dev/sda1 in the guest).
truncate -s 64M "$work/stick.img"
echo 'start=2048, type=c' | sfdisk -q "$work/stick.img"
mkfs.vfat -F 32 --offset 2048 -n FGSTICK "$work/stick.img" $((64 * 1024 - 1024)) >/dev/null
mmd -i "$work/stick.img@@1M" ::/facegate
mcopy -i "$work/stick.img@@1M" "$work/gallery.fgal" ::/facegate/gallery.fgal

echo "== booting the image under qemu-system-aarch64 (TCG, 2 cpus)" >&2
console=$work/console.log
mon=$work/monitor.sock
t0=$(date +%s)
timeout --foreground "${IMAGE_TIMEOUT:-2400}" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 \
    -nographic -no-reboot -nic none \
    -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
    -append "console=ttyAMA0 root=LABEL=FGROOT rootfstype=ext4 rootwait rw panic=-1 systemd.show_status=0" \
    -drive if=none,id=disk,file="$work/disk.img",format=raw -device virtio-blk-pci,drive=disk \
    -device qemu-xhci,id=xhci -device bochs-display,xres=320,yres=240,romfile= \
    -monitor unix:"$mon",server,nowait \
    </dev/null >"$console" 2>&1 &
qemu=$!
plugged=
while kill -0 "$qemu" 2>/dev/null; do
    if [ -z "$plugged" ] && grep -q 'facegate-image: insert-stick' "$console"; then
        printf 'drive_add 0 if=none,id=stick,file=%s,format=raw\ndevice_add usb-storage,bus=xhci.0,drive=stick,id=stick0\n' \
            "$work/stick.img" | socat - UNIX-CONNECT:"$mon" >/dev/null
        plugged=$(($(date +%s) - t0))
        echo "image test: stick plugged in at $plugged s" >&2
    fi
    sleep 2
done
wait "$qemu" || true
grep -a 'facegate-image:' "$console" | sed 's/\r$//' | tee "$work/checks.log"
echo "image test: guest ran $(($(date +%s) - t0)) s, $(($(date +%s) - started)) s in all; console in $console" >&2
grep -q '^facegate-image: done 0$' "$work/checks.log" && ! grep -q '^facegate-image: FAIL' "$work/checks.log" ||
    { echo "image test: FAILED" >&2; exit 1; }
echo "image test: all checks passed" >&2
