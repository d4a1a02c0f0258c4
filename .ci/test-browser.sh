#!/usr/bin/env bash
# Runs the cairn-wasm tests in headless Chromium (dedicated-worker tests, OPFS).
# Needs what .ci/setup-wasm.sh installs; run that first (it is idempotent).
#
#   .ci/test-browser.sh [extra cargo test args...]
set -euo pipefail

# shellcheck source=.ci/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"
cd "$CAIRN_ROOT"

if ! command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
    echo "error: wasm-bindgen-test-runner not found in $WASM_BINDGEN_ROOT/bin; run .ci/setup-wasm.sh" >&2
    exit 1
fi
if ! wasm-bindgen-test-runner --version 2>/dev/null | grep -qw "$WASM_BINDGEN_VERSION"; then
    echo "error: wasm-bindgen-test-runner is not version $WASM_BINDGEN_VERSION (Cargo.lock); run .ci/setup-wasm.sh" >&2
    exit 1
fi
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
if [ ! -x "$CHROMEDRIVER" ]; then
    echo "error: $CHROMEDRIVER missing; run .ci/setup-wasm.sh" >&2
    exit 1
fi

# Chromium leaves profile folders in TMPDIR: give it a scratch directory, removed on exit.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/cairn-browser.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export TMPDIR="$SCRATCH"

echo "==> wasm-bindgen-test-runner $(wasm-bindgen-test-runner --version | awk '{print $2}'), $("$CHROMEDRIVER" --version | awk '{print $1, $2}'), TMPDIR=$TMPDIR"
echo "==> cargo test -p cairn-wasm --target wasm32-unknown-unknown $*"
cargo test -p cairn-wasm --target wasm32-unknown-unknown "$@"
