#!/usr/bin/env bash
# Proves that the engine core and the VFS build without std: wasm32-unknown-unknown has no
# std I/O at all, so any accidental `std::` use fails this build.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cargo build -p cairn-core -p cairn-vfs --no-default-features --target wasm32-unknown-unknown
echo "no_std check: PASS (cairn-core + cairn-vfs, --no-default-features, wasm32-unknown-unknown)"
