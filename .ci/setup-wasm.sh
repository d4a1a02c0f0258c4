#!/usr/bin/env bash
# Installs everything the wasm builds and browser tests need. Idempotent: every step is
# skipped when its result is already present. Works on a fresh Debian machine as root.
#
#   .ci/setup-wasm.sh            # install
#   eval "$(.ci/setup-wasm.sh --print-env)"   # only print the PATH export line
#
# Installs:
#   - rustup targets wasm32-unknown-unknown and wasm32-wasip1;
#   - Debian packages chromium and chromium-driver (when /usr/bin/chromium or
#     /usr/bin/chromedriver is missing);
#   - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock, into
#     $CACHE/wasm-bindgen ($CACHE defaults to $HOME/.cache/cairn-ci); reinstalled when the
#     version there differs;
#   - Firefox ESR (Debian firefox-esr) and geckodriver (`cargo install geckodriver`, pinned to
#     $GECKODRIVER_VERSION, into $CACHE/geckodriver) for the Firefox runs of both suites.
#     CAIRN_BROWSERS (default "chromium firefox") says which engines to set up.
set -euo pipefail

# shellcheck source=.ci/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"

if [ "${1:-}" = "--print-env" ]; then
    echo "export PATH=\"$WASM_BINDGEN_ROOT/bin:\$PATH\""
    exit 0
fi

step() { echo "==> $*"; }

step "rustup target add wasm32-unknown-unknown wasm32-wasip1"
rustup target add wasm32-unknown-unknown wasm32-wasip1

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        step "apt-get update"
        $SUDO apt-get update
        APT_UPDATED=1
    fi
    step "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "$@"
}

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    step "chromium and chromedriver already installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
else
    apt_install chromium chromium-driver
fi

if wants_browser firefox; then
    if [ -x /usr/bin/firefox-esr ]; then
        step "firefox-esr already installed: $(/usr/bin/firefox-esr --version 2>/dev/null || echo '?')"
    else
        apt_install firefox-esr
    fi
fi

have_version() {
    local bin="$WASM_BINDGEN_ROOT/bin/$1"
    [ -x "$bin" ] && has_version "$bin" "$WASM_BINDGEN_VERSION"
}
if have_version wasm-bindgen && have_version wasm-bindgen-test-runner; then
    step "wasm-bindgen-cli $WASM_BINDGEN_VERSION already installed in $WASM_BINDGEN_ROOT"
else
    # No --locked: the CLI's own lockfile pins a crate version this registry may lack.
    # A different version already in the root is replaced by cargo install.
    step "cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION --root $WASM_BINDGEN_ROOT"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$WASM_BINDGEN_ROOT"
fi
"$WASM_BINDGEN_ROOT/bin/wasm-bindgen" --version

if wants_browser firefox; then
    if [ -x "$GECKODRIVER_ROOT/bin/geckodriver" ] &&
        has_version "$GECKODRIVER_ROOT/bin/geckodriver" "$GECKODRIVER_VERSION"; then
        step "geckodriver $GECKODRIVER_VERSION already installed in $GECKODRIVER_ROOT"
    else
        step "cargo install geckodriver --version $GECKODRIVER_VERSION --root $GECKODRIVER_ROOT"
        cargo install geckodriver --version "$GECKODRIVER_VERSION" --root "$GECKODRIVER_ROOT"
    fi
    version_line "$GECKODRIVER_ROOT/bin/geckodriver"
fi

echo "==> done. To use the CLI in your shell:"
echo "export PATH=\"$WASM_BINDGEN_ROOT/bin:\$PATH\""
