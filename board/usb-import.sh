#!/bin/sh
# facegate USB import, run as root by facegate-usb@.service for one partition.
# Installed as /usr/lib/facegate/usb-import. The stick is hostile: all it may
# do is offer a file (docs/usb-import.md).
#
# 1. Probe the filesystem type from the device itself; only vfat and exfat are
#    mounted, with the type given explicitly (no ext4 sticks with symlinks or
#    device nodes, no auto-detected filesystem drivers).
# 2. Mount read-only, nosuid,nodev,noexec,nosymfollow, every file owned by
#    nobody and not executable, inside a new root-only (0700) directory.
# 3. As the facegate user, `facegate usb-import` copies facegate/gallery.fgal
#    into the inbox: no symlink followed, regular files only, size checked
#    against [update] max_bytes before reading, a unique name created with
#    O_EXCL. Root never writes where that user can. The running terminal
#    verifies the file and installs or refuses it.
# 4. Only if `facegate usb-export --check` (as that user) finds a valid signed
#    facegate/export-request: mount again read-write (same restrictions) and
#    `facegate usb-export` writes the event log to a new file on the stick.
# 5. Unmount, remove the mount point.
#
#   usb-import DEVICE          import from DEVICE (/dev/sdX1)
#   usb-import --probe DEVICE  print DEVICE's filesystem type; exit 0 if it
#                              would be mounted (used by tests/usb_import.rs)
set -eu
user=${FACEGATE_USER:-facegate}
bin=${FACEGATE_BIN:-/usr/bin/facegate}
config=${FACEGATE_CONFIG:-/etc/facegate/facegate.toml}
rundir=${FACEGATE_RUN:-/run}

log() { echo "facegate-usb: $*" >&2; }

# The type in the device's own superblock (blkid -p: no cache, no udev
# database); empty when there is none.
fs_type() { blkid -p -o value -s TYPE -- "$1" 2>/dev/null || true; }

# Only these filesystems are mounted at all.
allowed() { case $1 in vfat | exfat) return 0 ;; *) return 1 ;; esac }

if [ "${1:-}" = --probe ]; then
    type=$(fs_type "$2")
    echo "${type:-none}"
    allowed "$type"
    exit
fi

dev=$1
part=$(basename -- "$dev")
type=$(fs_type "$dev")
if ! allowed "$type"; then
    log "$part: refused: filesystem '${type:-none}' (only vfat and exfat sticks are mounted)"
    exit 0
fi

# The unprivileged side: the facegate user, no capabilities, no new privileges.
as_user() { setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --no-new-privs --inh-caps=-all -- "$@"; }
# It starts inside the mount (its working directory): the mount point's path
# is not reachable to it, the directory above being root's and 0700.
in_mount() { (cd "$mnt" && as_user "$bin" "$@" --from . --config "$config" --partition "$part"); }

nobody_ids=uid=$(id -u nobody),gid=$(id -g nobody)
user_ids=uid=$(id -u "$user"),gid=$(id -g "$user")
safe=nosuid,nodev,noexec,nosymfollow

# The mount point is inside a new root-only directory: a mounted
# filesystem's root hides the mount point's own mode, its parent's stays.
priv=$(mktemp -d "$rundir/facegate-usb.XXXXXX")
mnt=$priv/stick
cleanup() {
    umount -- "$mnt" 2>/dev/null || true
    rmdir -- "$mnt" "$priv" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -m 0700 -- "$mnt"

if ! mount -n -t "$type" -o "ro,$safe,$nobody_ids,fmask=0133,dmask=0022" -- "$dev" "$mnt"; then
    log "$part: cannot mount it as $type"
    exit 0
fi
in_mount usb-import || true

if in_mount usb-export --check; then
    # A new mount rather than a remount: vfat and exfat keep the owner and
    # masks of the first mount, and the stick is written as the facegate user.
    umount -- "$mnt"
    if mount -n -t "$type" -o "rw,$safe,$user_ids,fmask=0177,dmask=0077" -- "$dev" "$mnt"; then
        in_mount usb-export || true
    else
        log "$part: cannot mount it read-write for the event export"
    fi
fi
