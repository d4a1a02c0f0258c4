#!/usr/bin/env bash
# Runs the cairn-wasm tests (dedicated-worker tests, OPFS) in every browser engine of
# $CAIRN_BROWSERS (default "chromium firefox"): headless Chromium through chromedriver, headless
# Firefox ESR through geckodriver. The wasm is built once; the runner runs it per engine.
# Needs what .ci/setup-wasm.sh installs; run that first (it is idempotent).
#
#   .ci/test-browser.sh [extra cargo test args...]
#   CAIRN_BROWSERS=firefox .ci/test-browser.sh
set -euo pipefail

# shellcheck source=.ci/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"
cd "$CAIRN_ROOT"

if ! command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
    echo "error: wasm-bindgen-test-runner not found in $WASM_BINDGEN_ROOT/bin; run .ci/setup-wasm.sh" >&2
    exit 1
fi
if ! has_version wasm-bindgen-test-runner "$WASM_BINDGEN_VERSION"; then
    echo "error: wasm-bindgen-test-runner is not version $WASM_BINDGEN_VERSION (Cargo.lock); run .ci/setup-wasm.sh" >&2
    exit 1
fi
# Chromium leaves profile folders in TMPDIR: give it a scratch directory, removed on exit.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/cairn-browser.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export TMPDIR="$SCRATCH"

for engine in $CAIRN_BROWSERS; do
    case "$engine" in
        chromium)
            driver="${CHROMEDRIVER:-/usr/bin/chromedriver}"
            if [ ! -x "$driver" ]; then
                echo "error: $driver missing; run .ci/setup-wasm.sh" >&2
                exit 1
            fi
            echo "==> [chromium] wasm-bindgen-test-runner $(version_line wasm-bindgen-test-runner), $(version_line "$driver"), TMPDIR=$TMPDIR"
            echo "==> [chromium] cargo test -p cairn-wasm --target wasm32-unknown-unknown $*"
            env -u GECKODRIVER CHROMEDRIVER="$driver" \
                cargo test -p cairn-wasm --target wasm32-unknown-unknown "$@"
            ;;
        firefox)
            driver="${GECKODRIVER:-$GECKODRIVER_ROOT/bin/geckodriver}"
            firefox="${FIREFOX:-/usr/bin/firefox-esr}"
            if [ ! -x "$driver" ] || [ ! -x "$firefox" ]; then
                echo "error: $driver or $firefox missing; run .ci/setup-wasm.sh" >&2
                exit 1
            fi
            # geckodriver looks for `firefox` on PATH; Debian installs firefox-esr: name it.
            caps="$SCRATCH/firefox-caps.json"
            printf '{"moz:firefoxOptions": {"binary": "%s", "prefs": {"app.update.enabled": false}}}\n' "$firefox" > "$caps"
            echo "==> [firefox] wasm-bindgen-test-runner $(version_line wasm-bindgen-test-runner), $(version_line "$driver"), $(version_line "$firefox")"
            echo "==> [firefox] cargo test -p cairn-wasm --target wasm32-unknown-unknown $*"
            env -u CHROMEDRIVER GECKODRIVER="$driver" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$caps" \
                cargo test -p cairn-wasm --target wasm32-unknown-unknown "$@"
            ;;
        *)
            echo "error: unknown browser engine $engine in CAIRN_BROWSERS" >&2
            exit 1
            ;;
    esac
done
