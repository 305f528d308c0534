#!/usr/bin/env bash
# The main job on the bundled demo input: verify faces from ../shared/data.
# (Becomes the terminal demo once the runtime exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release -q
bin="${CARGO_TARGET_DIR:-target}/release/facegate"
[ -f models/yunet.bpk ] && [ -f models/sface.bpk ] || FACEGATE_BIN=$bin scripts/fetch-models.sh
data=${FACEGATE_SHARED_DATA:-../shared/data}/id-photos-wikimedia
for pair in "person_a_1 person_a_2" "person_b_1 person_b_2" "person_a_1 impostor_1"; do
    set -- $pair
    echo "== $1 vs $2"
    "$bin" compare "$data/$1.jpg" "$data/$2.jpg" || [ $? = 1 ]
done
