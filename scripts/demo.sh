#!/usr/bin/env bash
# The main job: builds Cairn in release mode and runs the demo (1M keys written, read, scanned,
# reopened and verified, then a short synced-write and parallel-read benchmark) on an embedded
# default configuration in a fresh temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
exec cargo run --release -p cairn --example demo -- "$@"
