#!/bin/sh
# PID 1 of the VM test's guest (busybox): mounts the kernel file systems and
# the 9p share (/hil: the binaries, models, gallery, board/qemu.toml, the
# scenarios; /hil/out for results), loads vivid and gpio-sim, runs
# /hil/scenarios.sh, writes its exit status to /hil/out/status and powers off.
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/lib
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run
mount -t debugfs debug /sys/kernel/debug
while read -r mod args; do
    insmod "/lib/modules/$mod" $args || echo "init: insmod $mod failed"
done </lib/modules/order
mount -t configfs none /sys/kernel/config
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 hil /hil || {
    echo "init: cannot mount the 9p share"
    poweroff -f
}
echo "init: kernel $(uname -r), $(nproc) cpus; modules loaded"
sh /hil/scenarios.sh >/hil/out/scenarios.log 2>&1 </dev/null &
pid=$!
tail -f /hil/out/scenarios.log &
tailer=$!
wait $pid
echo $? >/hil/out/status
kill $tailer
sync
poweroff -f
