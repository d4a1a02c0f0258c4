#!/usr/bin/env bash
# Soak tests too long for every CI run: the 1M-key compaction simulation
# (core/tests/compaction_sim.rs, `#[ignore]`d in the normal suite). It writes 1,000,000 keys in
# a scrambled order plus 200,000 overwrites through the core step API on a MemVfs and checks
# the level invariants throughout and after the tree settles.
#
#   scripts/soak.sh                 # release build (about a minute)
#   CAIRN_SOAK_PROFILE=dev scripts/soak.sh   # debug build (slower, builds faster)
#
# Exit status non-zero if any invariant fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
profile="${CAIRN_SOAK_PROFILE:-release}"
echo "== 1M-key compaction simulation (cargo test --profile $profile, --ignored)"
exec cargo test -p cairn-core --profile "$profile" --test compaction_sim -- \
    --ignored --exact compaction_sim_1m_keys_keeps_level_invariants --nocapture
