#!/bin/bash
# Runs inside the SD image booted by scripts/test-image.sh, as a oneshot unit
# after multi-user.target. Each check reads systemd's and the kernel's state
# (systemctl show, /proc, the GPIO debugfs, the files on disk), never
# facegate's own log. Lines for the host, on the console:
#   facegate-image: PASS|FAIL NAME: DETAIL
#   facegate-image: insert-stick       (the host hot-plugs the USB stick)
#   facegate-image: done FAILED        (then the guest powers off)
set -u
failed=0
say() { echo "facegate-image: $*" >/dev/ttyAMA0; }
pass() { say "PASS $1: $2"; }
fail() { say "FAIL $1: $2"; failed=$((failed + 1)); }
prop() { systemctl show facegate -p "$1" --value; }
since_boot() { awk '{printf "%.1f", $1}' /proc/uptime; }
# Waits up to $1 s for the command in $2.. to succeed.
wait_for() {
    local limit=$1
    shift
    for _ in $(seq "$limit"); do
        "$@" && return 0
        sleep 1
    done
    return 1
}
is_active() { [ "$(prop ActiveState)" = active ]; }
secs() { # a monotonic µs property -> seconds
    awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1e6}'
}

say "check started $(since_boot) s after boot, kernel $(uname -r)"
# 1. READY by sd_notify: Type=notify units turn active only on READY=1.
if wait_for 600 is_active; then
    start=$(prop ExecMainStartTimestampMonotonic)
    ready=$(prop ActiveEnterTimestampMonotonic)
    pass ready "active (READY=1) $(secs "$start" "$ready") s after its start, $(since_boot) s after boot; status \"$(prop StatusText)\""
else
    fail ready "not active after 600 s: $(prop ActiveState)/$(prop SubState), result $(prop Result)"
fi
pid=$(prop MainPID)

# 2. The hardened unit keeps running, with its devices open.
sleep 30
if is_active && [ "$(prop MainPID)" = "$pid" ] && [ "$(prop NRestarts)" = 0 ]; then
    pass hardening "running 30 s under the unit's sandbox, no restart (pid $pid)"
else
    fail hardening "state $(prop ActiveState), pid $(prop MainPID) (was $pid), restarts $(prop NRestarts)"
fi
fds=$(ls -l /proc/"$pid"/fd 2>/dev/null | sed -n 's/.* -> //p')
open=$(echo "$fds" | grep '^/dev/' | sort -u | tr '\n' ' ')
# A v2 line request is its own file (the chip's is closed after the request).
lines=$(echo "$fds" | grep -c 'anon_inode:gpio-line')
[ "$lines" -ge 3 ] && pass "gpio lines" "$lines line requests held (relay, contact, exit button)" ||
    fail "gpio lines" "$lines line requests held, 3 expected"
for dev in /dev/video0 /dev/fb0; do
    case " $open" in
    *" $dev "*) pass "device ${dev#/dev/}" "held open by the service" ;;
    *) fail "device ${dev#/dev/}" "not open (open: ${open:-none})" ;;
    esac
done
relay() { grep -E '^ *gpio-[0-9]+ +\(.*facegate' /sys/kernel/debug/gpio 2>/dev/null | head -1; }
line=$(relay)
case "$line" in
*" out lo"*) pass relay-locked "PL061 line 0 driven low (locked): ${line//  / }" ;;
*) fail relay-locked "GPIO debugfs: ${line:-no line held by facegate}" ;;
esac
denied=$(journalctl -b -u facegate -o cat | grep -ciE 'permission denied|operation not permitted|SIGSYS|read-only file system')
[ "$denied" = 0 ] && pass sandbox-errors "no permission errors in the unit's journal" ||
    fail sandbox-errors "$denied permission errors: $(journalctl -b -u facegate -o cat | grep -iE 'permission denied|operation not permitted|SIGSYS|read-only' | head -3)"

# 3. The USB stick: udev -> facegate-usb@ -> inbox -> the terminal installs it.
gallery=/var/lib/facegate/gallery.fgal
before=$(stat -c %Y "$gallery" 2>/dev/null || echo none)
t0=$(since_boot)
say insert-stick
verify() { /usr/bin/facegate gallery verify "$gallery" --keys /etc/facegate/keys --require-signature; }
installed() { [ -f "$gallery" ] && [ "$(stat -c %Y "$gallery")" != "$before" ]; }
if wait_for 300 installed; then
    stats=$(verify 2>&1)
    units=$(systemctl list-units --all --plain --no-legend 'facegate-usb@*' | awk '{print $1}' | tr '\n' ' ')
    if echo "$stats" | grep -q ' 2 people, signed by key '; then
        pass usb-install "stick plugged at $t0 s, gallery on disk at $(since_boot) s via ${units:-?}: $stats"
    else
        fail usb-install "a file appeared but: $stats"
    fi
else
    fail usb-install "no gallery after 300 s; usb units: $(systemctl list-units --all --plain --no-legend 'facegate-usb@*')"
fi
[ -z "$(ls -A /var/lib/facegate/inbox 2>/dev/null)" ] && pass inbox-empty "the offered file was taken" ||
    fail inbox-empty "left in the inbox: $(ls -A /var/lib/facegate/inbox)"

# 4. The watchdog: a stopped process stops pinging; systemd kills and restarts it.
pid=$(prop MainPID)
restarts=$(prop NRestarts)
t0=$(since_boot)
kill -STOP "$pid"
restarted() { is_active && [ "$(prop MainPID)" != "$pid" ] && [ "$(prop MainPID)" != 0 ]; }
if wait_for 600 restarted; then
    pass watchdog "SIGSTOP at $t0 s, pid $pid replaced by $(prop MainPID), active again at $(since_boot) s (restarts $restarts -> $(prop NRestarts), WatchdogUSec $(prop WatchdogUSec))"
else
    fail watchdog "not restarted: $(prop ActiveState)/$(prop SubState), pid $(prop MainPID), restarts $(prop NRestarts)"
fi
journalctl -b -u facegate -o cat | grep -m1 -i watchdog | sed 's/^/facegate-image: journal: /' >/dev/ttyAMA0
line=$(relay)
case "$line" in
*" out lo"*) pass relay-after-restart "locked: ${line//  / }" ;;
*) fail relay-after-restart "GPIO debugfs: ${line:-no line held by facegate}" ;;
esac
verify 2>/dev/null | grep -q ' 2 people, signed by key ' &&
    pass gallery-kept "the installed gallery survives the restart" || fail gallery-kept "gone after the restart"

say "done $failed"
systemctl poweroff
