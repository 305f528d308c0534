#!/usr/bin/env bash
# Checks an SD image without mounting it: the partition table (sfdisk), the
# boot partition's files (mtools), and the root file system's files (debugfs).
#   scripts/check-image.sh [image-out/facegate-rpi-arm64.img]
set -euo pipefail
img=${1:-image-out/facegate-rpi-arm64.img}
work=$(mktemp -d /tmp/facegate-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== partition table"
sfdisk -d "$img"
read -r boot_start boot_size < <(sfdisk -d "$img" | awk -F'[=,]' '/type=c/ {gsub(/ /,""); print $2, $4; exit}')
read -r root_start root_size < <(sfdisk -d "$img" | awk -F'[=,]' '/type=83/ {gsub(/ /,""); print $2, $4; exit}')
[ -n "${boot_start:-}" ] || fail "no FAT32 (type c) boot partition"
[ -n "${root_start:-}" ] || fail "no Linux (type 83) root partition"
sfdisk -d "$img" | grep -q 'bootable' || fail "boot partition not marked bootable"

echo "== boot partition (FAT)"
dd if="$img" of="$work/boot.vfat" bs=512 skip="$boot_start" count="$boot_size" status=none
mdir -i "$work/boot.vfat" -b ::/ | sed -e 's|^::/||' -e 's|/$||' | sort > "$work/boot.txt"
for f in config.txt cmdline.txt vmlinuz initrd.img start4.elf fixup4.dat bcm2711-rpi-4-b.dtb bcm2712-rpi-5-b.dtb facegate; do
    grep -qx "$f" "$work/boot.txt" || fail "boot partition lacks $f"
    echo "ok  /boot/firmware/$f"
done
mtype -i "$work/boot.vfat" ::/cmdline.txt | grep -q 'root=LABEL=FGROOT' || fail "cmdline.txt does not boot FGROOT"
mtype -i "$work/boot.vfat" ::/config.txt | grep -q '^kernel=vmlinuz' || fail "config.txt names no kernel"
mdir -i "$work/boot.vfat" -b ::/facegate | grep -q 'facegate.toml.example' || fail "no first-boot settings folder"
echo "ok  cmdline.txt root=LABEL=FGROOT, config.txt kernel, first-boot folder"

echo "== root partition (ext4)"
dd if="$img" of="$work/root.ext4" bs=512 skip="$root_start" count="$root_size" status=none
dump() { debugfs -R "$1" "$work/root.ext4" 2>/dev/null; }
dump "stats" | grep -q 'Filesystem volume name:   FGROOT' || fail "root is not labelled FGROOT"
for f in /usr/bin/facegate /usr/share/facegate/models/retinaface-int8.bpk /usr/share/facegate/models/yunet-int8.bpk /usr/share/facegate/models/sface-int8.bpk \
         /etc/facegate/facegate.toml /lib/systemd/system/facegate.service \
         /lib/systemd/system/facegate-usb@.service /lib/udev/rules.d/90-facegate-usb.rules \
         /usr/lib/facegate/usb-import /usr/lib/facegate/firstboot /var/lib/facegate/inbox; do
    dump "stat $f" | grep -q '^Inode:' || fail "root lacks $f"
    echo "ok  $f"
done
dump "stat /etc/systemd/system/multi-user.target.wants/facegate.service" | grep -q 'Type: symlink' \
    || fail "facegate.service is not enabled"
echo "ok  facegate.service enabled"
dump "stat /etc/systemd/system/multi-user.target.wants/facegate-firstboot.service" | grep -q 'Type: symlink' \
    || fail "first-boot unit is not enabled"
echo "ok  facegate-firstboot.service enabled"
dump "cat /etc/fstab" | grep -q 'LABEL=FGBOOT /boot/firmware' || fail "fstab does not mount the boot partition"
dump "cat /etc/passwd" | grep -q '^facegate:' || fail "no facegate user"
echo "ok  fstab, facegate user"
echo "image checks passed"
