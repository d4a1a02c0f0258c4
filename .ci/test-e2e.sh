#!/usr/bin/env bash
# Browser end-to-end tests of the npm package cairn-db on OPFS in every engine of
# $CAIRN_BROWSERS (default "chromium firefox": headless Chromium via playwright-core, headless
# Firefox ESR via puppeteer-core over WebDriver BiDi):
#   npm ci (www/ and wasm/js/), wasm/build.sh (fails over the size budget), starts
#   www/server.mjs on 127.0.0.1, runs `node --test` on www/tests/ once per engine (the Node
#   test runs with the first), stops the server. Exits non-zero on any failure.
# Needs what .ci/setup-wasm.sh installs (run it first; it is idempotent).
#
#   .ci/test-e2e.sh                 # everything
#   CAIRN_SKIP_BUILD=1 .ci/test-e2e.sh   # reuse wasm/pkg
set -euo pipefail

# shellcheck source=.ci/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"
cd "$CAIRN_ROOT"

if wants_browser chromium && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "error: ${CHROMIUM:-/usr/bin/chromium} missing; run .ci/setup-wasm.sh" >&2
    exit 1
fi
if wants_browser firefox && [ ! -x "${FIREFOX:-/usr/bin/firefox-esr}" ]; then
    echo "error: ${FIREFOX:-/usr/bin/firefox-esr} missing; run .ci/setup-wasm.sh" >&2
    exit 1
fi

echo "==> npm ci in www/ and wasm/js/"
(cd www && npm ci --no-audit --no-fund)
(cd wasm/js && npm ci --no-audit --no-fund)

if [ "${CAIRN_SKIP_BUILD:-0}" != 1 ] || [ ! -f wasm/pkg/cairn_wasm_bg.wasm ]; then
    echo "==> wasm/build.sh"
    wasm/build.sh
fi

# Chromium leaves profile folders in TMPDIR: give it a scratch directory, removed on exit.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/cairn-e2e.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
export TMPDIR="$SCRATCH"

echo "==> starting www/server.mjs"
node www/server.mjs 0 > "$SCRATCH/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    if grep -q "listening on" "$SCRATCH/server.log" 2>/dev/null; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$SCRATCH/server.log" >&2; exit 1; fi
    sleep 0.1
done
CAIRN_BASE_URL="$(sed -n 's/^listening on \(http[^ ]*\)$/\1/p;T;q' "$SCRATCH/server.log")"
if [ -z "$CAIRN_BASE_URL" ]; then echo "error: server did not start" >&2; cat "$SCRATCH/server.log" >&2; exit 1; fi
export CAIRN_BASE_URL
echo "==> server at $CAIRN_BASE_URL"

first=1
for engine in $CAIRN_BROWSERS; do
    results="${CAIRN_E2E_RESULTS_DIR:-$CAIRN_ROOT/target}/e2e-results-$engine.json"
    mkdir -p "$(dirname "$results")"
    if [ "$first" = 1 ]; then files=(www/tests/); else files=(www/tests/e2e.test.mjs); fi
    first=0
    echo "==> [$engine] node --test --test-concurrency=1 ${files[*]}"
    CAIRN_BROWSER="$engine" CAIRN_E2E_RESULTS="$results" \
        node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
    echo "==> [$engine] results in $results"
done
