#!/usr/bin/env bash
# Installs the arm64 .deb into a Debian bookworm arm64 chroot under
# qemu-user and checks it: dpkg -i succeeds, the service user and groups
# exist, the unit is enabled, `systemd-analyze verify` is clean, the binary
# runs and reads the shipped config and models. Needs root (chroot, binfmt).
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(scripts/build-deb.sh | tail -1)}
cache=${FACEGATE_CACHE:-$HOME/.cache/facegate}
root=$(mktemp -d /tmp/facegate-chroot.XXXXXX)
cleanup() {
    for m in proc dev; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf "$root"
}
trap cleanup EXIT

command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
scripts/binfmt-aarch64.sh

base=$cache/arm64-bookworm.tar
if [ ! -f "$base" ]; then
    echo "test-deb: making an arm64 bookworm chroot (once, cached in $base)" >&2
    debootstrap --arch=arm64 --variant=minbase --include=systemd,udev,adduser,passwd \
        bookworm "$root" http://deb.debian.org/debian >/dev/null
    tar -C "$root" -cf "$base" .
    rm -rf "$root" && mkdir -p "$root"
fi
tar -C "$root" -xf "$base"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp "$deb" "$root/tmp/facegate.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

in_root dpkg -i /tmp/facegate.deb
echo "== checks"
in_root dpkg -s facegate | grep -E '^(Status|Version|Architecture):'
in_root id facegate
in_root test -L /etc/systemd/system/multi-user.target.wants/facegate.service
echo "unit enabled: multi-user.target.wants/facegate.service"
in_root systemd-analyze verify /lib/systemd/system/facegate.service /lib/systemd/system/facegate-usb@.service
echo "systemd-analyze verify: clean"
in_root stat -c '%U:%G %a %n' /var/lib/facegate /var/lib/facegate/inbox /etc/facegate/facegate.toml
in_root /usr/bin/facegate --version
# The shipped config parses and names the models it needs; the sim board runs
# nothing on hardware, so check the config of every shipped board.
for b in "$root"/usr/share/facegate/board/*.toml; do
    name=$(basename "$b")
    out=$(in_root /usr/bin/facegate gallery install /nonexistent.fgal --config "/usr/share/facegate/board/$name" 2>&1 || true)
    # The config parsed: the error is about the missing offered file.
    grep -q "/nonexistent.fgal" <<<"$out" || { echo "config $name: $out" >&2; exit 1; }
    echo "config ok: $name"
done
# The shipped models run: detect a face under qemu.
photo=${FACEGATE_SHARED_DATA:-../shared/data}/id-photos-wikimedia/person_a_1.jpg
cp "$photo" "$root/tmp/face.jpg"
in_root /usr/bin/facegate --models /usr/share/facegate/models detect /tmp/face.jpg
ls -l "$deb"
