#!/bin/sh
# facegate USB import, run as root by facegate-usb@.service for a device node.
# 1. Mounts it read-only, nosuid, nodev, noexec.
# 2. Copies facegate/gallery.fgal (size-capped) into the terminal's inbox,
#    where the running terminal verifies it (signature, key, version, model)
#    and installs it or refuses it; this script never trusts the file.
# 3. If facegate/export-events exists, remounts read-write and writes the
#    event log to facegate/events-HOST-DATE.csv.
# Installed as /usr/lib/facegate/usb-import.
set -eu
dev=$1
state=${FACEGATE_STATE:-/var/lib/facegate}
inbox=$state/inbox
max_bytes=${FACEGATE_MAX_GALLERY_BYTES:-67108864}
mnt=$(mktemp -d /run/facegate-usb.XXXXXX)
log() { echo "facegate-usb: $*"; logger -t facegate-usb -- "$*" 2>/dev/null || true; }
cleanup() { sync; umount "$mnt" 2>/dev/null || true; rmdir "$mnt" 2>/dev/null || true; }
trap cleanup EXIT

mount -o ro,nosuid,nodev,noexec "$dev" "$mnt" || { log "cannot mount $dev"; exit 0; }
src=$mnt/facegate/gallery.fgal
if [ -f "$src" ] && [ ! -L "$src" ]; then
    size=$(stat -c %s "$src")
    if [ "$size" -gt "$max_bytes" ]; then
        log "refusing $src: $size bytes is over $max_bytes"
    else
        install -d -o facegate -g facegate -m 0750 "$inbox"
        name=usb-$(date +%Y%m%dT%H%M%S).fgal
        # Copy under a temporary name, then rename: the terminal never sees half a file.
        head -c "$max_bytes" "$src" > "$inbox/.$name.part"
        chown facegate:facegate "$inbox/.$name.part"
        mv "$inbox/.$name.part" "$inbox/$name"
        log "gallery from $dev handed to the terminal as $inbox/$name"
    fi
fi
if [ -e "$mnt/facegate/export-events" ]; then
    mount -o remount,rw "$dev" "$mnt"
    out=$mnt/facegate/events-$(hostname)-$(date +%Y%m%dT%H%M%S).csv
    /usr/bin/facegate events export --log "$state/events.log" --format csv --out "$out"
    log "event log written to $dev as $(basename "$out")"
fi
