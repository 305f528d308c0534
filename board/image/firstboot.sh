#!/bin/sh
# facegate first boot: copies site settings from /boot/firmware/facegate/
#   facegate.toml  -> /etc/facegate/facegate.toml (board config)
#   keys/*.pub     -> /etc/facegate/keys/          (trusted gallery keys)
#   gallery.fgal   -> installed with `facegate gallery install` (verified)
#   hostname       -> /etc/hostname
# then renames the directory to facegate.applied so it runs once.
set -eu
# This terminal's own SSH host keys (the image ships none).
command -v ssh-keygen >/dev/null && ssh-keygen -A
src=/boot/firmware/facegate
[ -d "$src" ] || exit 0
if [ -f "$src/facegate.toml" ]; then
    install -m 0640 -g facegate "$src/facegate.toml" /etc/facegate/facegate.toml
fi
if [ -d "$src/keys" ]; then
    for k in "$src"/keys/*.pub; do [ -f "$k" ] && install -m 0644 "$k" /etc/facegate/keys/; done
fi
if [ -f "$src/hostname" ]; then
    tr -cd 'a-zA-Z0-9-\n' < "$src/hostname" | head -1 > /etc/hostname
fi
if [ -f "$src/gallery.fgal" ]; then
    /usr/bin/facegate gallery install "$src/gallery.fgal" --config /etc/facegate/facegate.toml || true
    chown facegate:facegate /var/lib/facegate/gallery.fgal* 2>/dev/null || true
fi
mv "$src" "$src.applied"
