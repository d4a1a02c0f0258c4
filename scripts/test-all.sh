#!/usr/bin/env bash
# Sets up and runs every test on every target: formatting and lints, the native test suite
# (unit, model, recovery, crash and portability tests), the no_std build of the core, and the
# WASI and browser suites. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

# A fresh clone builds every target (native, WASI, browser, fuzz) into one target directory.
# Without incremental state and with line tables instead of full debug info it stays a few GB
# smaller and builds faster; a full disk makes rustc crash with exit 101 mid-build, so say up
# front how much room there is.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
export CARGO_PROFILE_TEST_DEBUG="${CARGO_PROFILE_TEST_DEBUG:-line-tables-only}"
step "disk: free space where the build goes"
df -h . | tail -1
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${avail_kb:-0}" -lt $((12 * 1024 * 1024)) ]; then
  echo "warning: less than 12 GiB free here; a full build of every target needs about 10 GiB" >&2
fi

step "toolchain: rustfmt, clippy, wasm targets"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown wasm32-wasip1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (native, all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "no_std: cairn-core and cairn-vfs without std for wasm32-unknown-unknown"
cargo build -p cairn-core -p cairn-vfs --no-default-features --target wasm32-unknown-unknown

step "native tests"
cargo test --workspace --exclude cairn-wasm

step "WASI: the engine's tests under Wasmtime, native <-> WASI portability, no_std"
bash scripts/test-wasi.sh

step "browser: Chromium + chromedriver, Firefox ESR + geckodriver, the pinned wasm-bindgen-cli"
bash .ci/setup-wasm.sh
eval "$(bash .ci/setup-wasm.sh --print-env)"

step "browser: wasm-bindgen tests in a dedicated worker in headless Chromium and Firefox (OPFS VFS, bindings)"
bash .ci/test-browser.sh

step "browser: the npm package end to end (build with size budget, npm pack; Chromium via playwright-core, Firefox via puppeteer-core)"
bash .ci/test-e2e.sh

step "fuzzing: every cargo-fuzz target for ${FUZZ_SECONDS:-30}s (nightly toolchain)"
if cargo +nightly --version >/dev/null 2>&1; then
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
  fi
fi
bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"

step "disk: the build used"
du -sh target 2>/dev/null || true
printf '\nall tests passed in %ss\n' "$(( $(date +%s) - start ))"
