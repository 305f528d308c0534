#!/usr/bin/env bash
# Crash-consistency harness for gallery updates and the event log: child
# processes install updates / append events and are killed with SIGKILL at
# random moments, 1000 times each (CI runs 200 and 100). Prints the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
kills=${1:-1000}
FACEGATE_CRASH_KILLS=$kills cargo test --release --test update_crash -- --nocapture 2>&1 | grep -E "kills|test result"
FACEGATE_CRASH_KILLS=$kills cargo test --release --test events_crash -- --nocapture 2>&1 | grep -E "kills|test result"
