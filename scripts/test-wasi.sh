#!/usr/bin/env bash
# WASI (wasm32-wasip1) build and tests under Wasmtime, the native<->WASI portability check,
# and the no_std build. Installs what it needs (rustup targets, `wasmtime` from PyPI).
#
#   scripts/test-wasi.sh            # everything
#   SKIP_PORTABILITY=1 SKIP_NOSTD=1 scripts/test-wasi.sh   # only the WASI test suites
#
# The cargo runner for wasm32-wasip1 is scripts/wasmtime-run.py (.cargo/config.toml); it
# preopens a fresh temp dir as /tmp and sets CAIRN_TEST_DIR=/tmp for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

WASMTIME_VERSION=${WASMTIME_VERSION:-50.0.1}
if ! python3 -c "import wasmtime" 2>/dev/null; then
    echo "== installing wasmtime $WASMTIME_VERSION from PyPI"
    python3 -m pip install --quiet "wasmtime==$WASMTIME_VERSION"
fi
rustup target add wasm32-wasip1 >/dev/null 2>&1 || true

LOG=$(mktemp "${TMPDIR:-/tmp}/cairn-wasi-tests.XXXXXX")
trap 'rm -f "$LOG"' EXIT

echo "== cargo build -p cairn-cli --target wasm32-wasip1 (the cairn CLI)"
cargo build -p cairn-cli --target wasm32-wasip1

echo "== cargo test -p cairn --target wasm32-wasip1 (under Wasmtime)"
cargo test -p cairn --target wasm32-wasip1 2>&1 | tee "$LOG"
echo "== cargo test -p cairn-cli --target wasm32-wasip1 (under Wasmtime)"
cargo test -p cairn-cli --target wasm32-wasip1 2>&1 | tee -a "$LOG"
echo "== cargo test -p cairn-core --target wasm32-wasip1 (under Wasmtime)"
cargo test -p cairn-core --target wasm32-wasip1 2>&1 | tee -a "$LOG"

read -r passed failed < <(awk '/^test result: /{
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$LOG")
echo "WASI (Wasmtime): $passed passed, $failed failed"

if [ "${SKIP_PORTABILITY:-0}" != 1 ]; then
    echo "== native <-> WASI portability check"
    cargo build -q -p cairn-cli
    scripts/portability-check.sh target/debug/cairn target/wasm32-wasip1/debug/cairn.wasm
fi

if [ "${SKIP_NOSTD:-0}" != 1 ]; then
    echo "== no_std build"
    scripts/check-nostd.sh
fi
echo "test-wasi: PASS"
