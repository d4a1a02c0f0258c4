# shellcheck shell=bash
# Common environment for the wasm CI scripts; sourced by setup-wasm.sh and test-browser.sh.
# Computes where the pinned wasm-bindgen CLI lives and puts it on PATH.
# A fresh login shell may not have rustup's cargo on PATH yet.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
CAIRN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/cairn-ci}"
# The wasm-bindgen version pinned in Cargo.lock (the CLI must match it exactly).
WASM_BINDGEN_VERSION="$(awk '
    $0 == "name = \"wasm-bindgen\"" { found = 1; next }
    found && /^version = / { gsub(/"/, "", $3); print $3; exit }
' "$CAIRN_ROOT/Cargo.lock")"
if [ -z "$WASM_BINDGEN_VERSION" ]; then
    echo "error: no wasm-bindgen entry in $CAIRN_ROOT/Cargo.lock" >&2
    exit 1
fi
WASM_BINDGEN_ROOT="$CACHE/wasm-bindgen"
case ":$PATH:" in
    *":$WASM_BINDGEN_ROOT/bin:"*) ;;
    *) PATH="$WASM_BINDGEN_ROOT/bin:$PATH" ;;
esac
# geckodriver (Firefox's WebDriver server) from crates.io, pinned so CI runs are repeatable.
GECKODRIVER_VERSION="${GECKODRIVER_VERSION:-0.37.1}"
GECKODRIVER_ROOT="$CACHE/geckodriver"
# Browser engines the browser suites run in (each must be installed by setup-wasm.sh).
CAIRN_BROWSERS="${CAIRN_BROWSERS:-chromium firefox}"
wants_browser() {
    case " $CAIRN_BROWSERS " in
        *" $1 "*) return 0 ;;
        *) return 1 ;;
    esac
}
# The first line of `BIN --version`, read whole before it is cut: piping a tool's output into
# `head -n1` or `grep -q` closes the pipe early, and geckodriver then panics with a broken pipe
# (exit 101), which `set -o pipefail` turns into a failed CI run. Fails if BIN fails.
version_line() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 1
    printf '%s\n' "${out%%$'\n'*}"
}
# True if `BIN --version` names VERSION as a whole word.
has_version() {
    local line
    line="$(version_line "$1")" || return 1
    case " $line " in
        *[[:space:]]"$2"[[:space:]]*) return 0 ;;
        *) return 1 ;;
    esac
}
export CAIRN_ROOT CACHE WASM_BINDGEN_VERSION WASM_BINDGEN_ROOT GECKODRIVER_VERSION GECKODRIVER_ROOT \
    CAIRN_BROWSERS PATH
