#!/usr/bin/env bash
# Device-side numbers for docs/BENCHMARKS.md, as markdown on stdout:
#  * peak RSS and cold start (to the first frame and to the first decision) of
#    `facegate run` with a 100k-person gallery, int8 and fp32 models;
#  * the aarch64 binary under qemu-user: guest instructions per frame, counted
#    by a small TCG plugin (scripts/qemu_insn_count.c) as the difference
#    between a 12-frame and a 2-frame run.
# usage: scripts/bench_device.sh X86_BIN [AARCH64_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bin=$(realpath "$1")
arm=${2:-}
data=${FACEGATE_SHARED_DATA:-$root/../shared/data}
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT; echo "work: $work" >&2
models=$root/models

# Two enrolled people, padded with random ones.
mkdir -p "$work/photos/Emmanuel_Macron" "$work/photos/Jacinda_Ardern"
ln -s "$data/id-photos-wikimedia/person_a_1.jpg" "$work/photos/Emmanuel_Macron/"
ln -s "$data/id-photos-wikimedia/person_b_1.jpg" "$work/photos/Jacinda_Ardern/"
"$bin" --models "$models" enroll "$work/photos" --out "$work/two.fgal" >/dev/null 2>&1
"$bin" gallery synthetic "$work/two.fgal" --people 100000 --out "$work/100k.fgal" >/dev/null
"$bin" gallery synthetic "$work/two.fgal" --people 10000 --out "$work/10k.fgal" >/dev/null

config() { # name gallery precision frames
    printf 'person_a_2.jpg x%s\n' "$4" >"$work/$1.txt"
    ln -sf "$data/id-photos-wikimedia/person_a_2.jpg" "$work/person_a_2.jpg"
    cat >"$work/$1.toml" <<TOML
[terminal]
gallery = "$2"
require_signature = false
models = "$models"
precision = "$3"
threads = 1
[camera.replay]
path = "$1.txt"
fps = 10
[door]
pulse_ms = 1
[door.sim]
[events]
path = "$1-events.log"
TOML
}

ms() { "$FACEGATE_PYTHON" -c 'import json,sys; d=json.load(sys.stdin)[sys.argv[1]]; print("%.0f" % (d["secs"]*1e3+d["nanos"]/1e6) if d else "-")' "$1"; }

echo "### Memory and cold start: \`facegate run\`, 100 000-person gallery, 1 thread, 20 replayed 640x480 frames"
echo
echo "| models | gallery file | peak RSS | open → first frame | open → first decision (granted) |"
echo "|---|---:|---:|---:|---:|"
for precision in int8 fp32; do
    config "rss-$precision" 100k.fgal "$precision" 20
    /usr/bin/time -v "$bin" --json run --config "$work/rss-$precision.toml" \
        >"$work/rss.json" 2>"$work/rss.err" || { cat "$work/rss.err" >&2; exit 1; }
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/rss.err")
    size=$(stat -c %s "$work/100k.fgal")
    echo "| $precision | $((size / 1024)) KiB | $((rss / 1024)) MiB | $(ms first_frame <"$work/rss.json") ms | $(ms first_decision <"$work/rss.json") ms |"
done

[ -n "$arm" ] || exit 0
arm=$(realpath "$arm")
plugin=$work/insn_count.so
gcc -shared -fPIC -O2 -o "$plugin" scripts/qemu_insn_count.c
command -v qemu-aarch64 >/dev/null || {
    sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_ apt-get install -y -qq qemu-user >/dev/null
}
count() { # config
    qemu-aarch64 -L /usr/aarch64-linux-gnu -plugin "$plugin" -d plugin -D "$work/insns.txt" \
        "$arm" run --config "$work/$1.toml" >/dev/null 2>&1
    sed -n 's/^insns //p' "$work/insns.txt"
}
echo
echo "### aarch64 under qemu-user: guest instructions per frame (1 thread, 10 000-person gallery, a face in every frame)"
echo
echo "| models | instructions per frame | instructions to start (models, gallery) |"
echo "|---|---:|---:|"
for precision in int8 fp32; do
    config "q2-$precision" 10k.fgal "$precision" 2
    config "q12-$precision" 10k.fgal "$precision" 12
    a=$(count "q2-$precision")
    b=$(count "q12-$precision")
    per=$(((b - a) / 10))
    echo "| $precision | $(printf "%'d" "$per") | $(printf "%'d" $((a - 2 * per))) |"
done
