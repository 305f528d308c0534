#!/usr/bin/env bash
# A flashable Raspberry Pi 4 / 5 SD-card image, built without mounting
# anything: a Debian bookworm arm64 root (mmdebstrap under qemu-user) with
# Debian's raspi-firmware, the bookworm-backports kernel (the Pi 5 needs 6.6+),
# a time source (the Pi has no battery clock: systemd-timesyncd when a network
# exists, fake-hwclock restoring the last saved time otherwise),
# the facegate .deb with its service enabled, and a first-boot step that takes
# site settings from the FAT partition; partitions assembled by genimage
# (FAT via mtools, ext4 via `mke2fs -d`). Root only (chroot, binfmt).
#
#   scripts/build-image.sh [FACEGATE.deb]
#   -> image-out/facegate-rpi-arm64.img.xz and .sha256
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(realpath "${1:-$(scripts/build-deb.sh | tail -1)}")
out=$(realpath -m "${FACEGATE_IMAGE_DIR:-image-out}")
mirror=${FACEGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
need=()
for t in mmdebstrap genimage mcopy mkfs.vfat mke2fs sfdisk xz; do command -v $t >/dev/null || need+=($t); done
[ ${#need[@]} -eq 0 ] || apt-get install -y -qq mmdebstrap genimage mtools dosfstools e2fsprogs fdisk xz-utils >/dev/null
scripts/binfmt-aarch64.sh
work=$(mktemp -d /tmp/facegate-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
started=$(date +%s)

echo "image: root file system (mmdebstrap, arm64, under qemu)" >&2
mmdebstrap --arch=arm64 --variant=minbase --components="main non-free-firmware" \
    --include=systemd-sysv,udev,kmod,initramfs-tools,raspi-firmware,adduser,passwd,util-linux,iproute2,netbase,ca-certificates,dosfstools,e2fsprogs,openssh-server,ifupdown,isc-dhcp-client,systemd-timesyncd,fake-hwclock \
    --setup-hook='mkdir -p "$1/boot/firmware"' \
    --customize-hook="echo 'deb $mirror bookworm-backports main non-free-firmware' > \"\$1/etc/apt/sources.list.d/backports.list\"" \
    --customize-hook='chroot "$1" apt-get update -qq' \
    --customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports linux-image-arm64 >/dev/null' \
    --customize-hook="copy-in $deb /tmp" \
    --customize-hook='chroot "$1" sh -c "dpkg -i /tmp/facegate_*.deb && rm /tmp/facegate_*.deb"' \
    --customize-hook='chroot "$1" apt-get clean' \
    bookworm "$root" "$mirror"

echo "image: boot partition, site settings, first boot" >&2
boot=$root/boot/firmware
cp -a "$root"/usr/lib/raspi-firmware/. "$boot/"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
version=${kernel##*/vmlinuz-}
cp "$kernel" "$boot/vmlinuz"
cp "$root/boot/initrd.img-$version" "$boot/initrd.img"
for dtb in bcm2711-rpi-4-b bcm2711-rpi-400 bcm2711-rpi-cm4 bcm2712-rpi-5-b; do
    f=$root/usr/lib/linux-image-$version/broadcom/$dtb.dtb
    [ -f "$f" ] && cp "$f" "$boot/"
done
cp board/image/config.txt board/image/cmdline.txt "$boot/"
mkdir -p "$boot/facegate/keys"
cp board/rpi4.toml "$boot/facegate/facegate.toml.example"
cat > "$boot/facegate/README.txt" <<'TXT'
facegate first boot: put your site's settings here before the first start.
  facegate.toml  board config (start from facegate.toml.example, rpi5.toml,
                 jetson-orin-nano.toml in /usr/share/facegate/board/)
  keys/*.pub     trusted gallery signing keys (facegate keygen)
  gallery.fgal   a signed gallery to install
  hostname       the terminal's host name
TXT
install -m 0755 board/image/firstboot.sh "$root/usr/lib/facegate/firstboot"
install -m 0644 board/image/facegate-firstboot.service "$root/lib/systemd/system/"
ln -sf /lib/systemd/system/facegate-firstboot.service \
    "$root/etc/systemd/system/multi-user.target.wants/facegate-firstboot.service"
printf 'LABEL=FGROOT / ext4 defaults,noatime 0 1\nLABEL=FGBOOT /boot/firmware vfat defaults,noatime 0 2\n' > "$root/etc/fstab"
echo facegate > "$root/etc/hostname"
printf 'auto lo\niface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n' > "$root/etc/network/interfaces"
# No password logins: an installer adds an SSH key for root in
# /root/.ssh/authorized_keys, or uses the console.
# Every terminal gets its own SSH host keys at first boot.
rm -f "$root"/etc/ssh/ssh_host_*

echo "image: partitions (genimage)" >&2
mkdir -p "$out" "$work/tmp" "$work/input"
genimage --config board/image/genimage.cfg --rootpath "$root" --tmppath "$work/tmp" \
    --inputpath "$work/input" --outputpath "$work/out" >/dev/null
xz -T0 -6 -c "$work/out/facegate-rpi-arm64.img" > "$out/facegate-rpi-arm64.img.xz"
cp "$work/out/facegate-rpi-arm64.img" "$out/facegate-rpi-arm64.img"
(cd "$out" && sha256sum facegate-rpi-arm64.img.xz > facegate-rpi-arm64.img.xz.sha256)
echo "image: built in $(( $(date +%s) - started )) s, kernel $version" >&2
ls -l "$out"
