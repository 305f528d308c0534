#!/usr/bin/env bash
# The main job on the bundled demo input: the door terminal on the simulated
# board. Enrols two people from ID photos in ../shared/data, then replays a
# scripted scene through `facegate run --config board/sim.toml`:
#   an empty hall; Emmanuel Macron walks up (a photo 11 years newer than his
#   ID photo) and is let in; an unknown person is refused; the camera is
#   unplugged and comes back; Jacinda Ardern is let in; someone leaves by the
#   exit button; the door is left open and the alarm goes off.
# Prints decisions and relay transitions; display frames land in demo/display/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release -q
bin="${CARGO_TARGET_DIR:-target}/release/facegate"
ensure_models "$bin"
data=$(cd "${FACEGATE_SHARED_DATA:-../shared/data}" && pwd)
ids=$data/id-photos-wikimedia

rm -rf demo && mkdir -p "demo/people/Emmanuel Macron" "demo/people/Jacinda Ardern" demo/frames
cp "$ids/person_a_1.jpg" "demo/people/Emmanuel Macron/"
cp "$ids/person_b_1.jpg" "demo/people/Jacinda Ardern/"
for john in "$data"/dlib-johns/*/; do cp -r "$john" demo/people/; done
echo "== enrolling ID photos"
"$bin" enroll demo/people --out demo/gallery.fgal

cp "$ids/person_a_2.jpg" "$ids/person_b_2.jpg" "$ids/impostor_1.jpg" demo/frames/
cat > demo/scene.txt <<'SCENE'
# 10 frames per second
blank x10                    # empty hall
frames/person_a_2.jpg x12    # Emmanuel Macron at the door: granted
blank x25                    # he goes through
frames/impostor_1.jpg x14    # someone not enrolled: refused
blank x10
lost x4                      # camera unplugged, then back
blank x10
frames/person_b_2.jpg x12    # Jacinda Ardern: granted
blank x130                   # exit button, then the door is left open: alarm
SCENE
# Door contact and exit button, milliseconds after start.
cat > demo/inputs.txt <<'INPUTS'
3500 door open
5500 door close
13500 exit press
13800 exit release
14500 door open
INPUTS

echo "== running the terminal (board/sim.toml)"
"$bin" run --config board/sim.toml
echo
echo "== event log"
"$bin" events list --log demo/events.log
echo
echo "== relay transitions (demo/relay.jsonl)"
cat demo/relay.jsonl
echo
echo "== display frames"
ls demo/display
