#!/usr/bin/env bash
# Crash soak: runs the crash oracle (tests/src/oracle.rs) for N random seeds, POINTS crash
# points each (default 25), and prints the seed of every failure with the command that
# replays it:
#
#   scripts/crash-soak.sh N [POINTS]
#   CAIRN_SEED=0x1234 cargo test -p cairn-tests --test crash_oracle replay -- --nocapture
#
# CAIRN_SOAK_PROFILE picks the cargo profile (default: release; "dev" builds faster).
# Exit status 1 if any seed failed.
set -euo pipefail
n="${1:-100}"
points="${2:-25}"
profile="${CAIRN_SOAK_PROFILE:-release}"
cd "$(dirname "$0")/.."
cargo build -p cairn-tests --bin crash_soak --profile "$profile"
dir="$profile"
[ "$profile" = "dev" ] && dir="debug"
exec "target/$dir/crash_soak" "$n" "$points"
