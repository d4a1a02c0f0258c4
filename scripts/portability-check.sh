#!/usr/bin/env bash
# Cross-runtime format portability: a database written by the native `cairn` CLI must verify
# and read identically under WASI (Wasmtime), and a database written under WASI must verify
# and read identically natively. Prints PASS/FAIL per step; exits non-zero on any failure.
#
# Usage: scripts/portability-check.sh [NATIVE_CAIRN] [CAIRN_WASM]
#   defaults: target/debug/cairn and target/wasm32-wasip1/debug/cairn.wasm (built if missing)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NATIVE=${1:-$ROOT/target/debug/cairn}
WASM=${2:-$ROOT/target/wasm32-wasip1/debug/cairn.wasm}
RUNNER=$ROOT/scripts/wasmtime-run.py
[ -x "$NATIVE" ] || cargo build -q -p cairn-cli
[ -f "$WASM" ] || cargo build -q -p cairn-cli --target wasm32-wasip1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-portability.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FAILS=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; FAILS=$((FAILS + 1)); }

native() { "$NATIVE" --quiet "$@"; }
# The WASI CLI sees the work directory at the same path (preopened by the runner).
wasi() { WASI_DIRS="$WORK" python3 "$RUNNER" "$WASM" --quiet "$@"; }

# step NAME COMMAND... : runs the command, PASS on exit 0.
step() {
    local name=$1; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name"; echo "$out" | sed 's/^/      /' | tail -20; fi
}

# same NAME FILE_A FILE_B : PASS when the two outputs are identical.
same() {
    if cmp -s "$2" "$3"; then pass "$1"; else fail "$1"; diff "$2" "$3" | head -10 | sed 's/^/      /'; fi
}

# A data set with binary keys, overwrites and deletes: 20,000 lines.
python3 - "$WORK/data.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# cairn export v1\n")
    for i in range(20000):
        key = i.to_bytes(4, "big") + b"\xff\x00key"
        val = (b"value-%d-" % i) * (1 + i % 7)
        f.write(key.hex() + "\t" + val.hex() + "\n")
PY

for dir in native-written wasi-written; do
    if [ $dir = native-written ]; then W=native; R=wasi; else W=wasi; R=native; fi
    DB=$WORK/$dir
    step "$dir: $W import" $W import "$DB" "$WORK/data.txt"
    step "$dir: $W put" $W put "$DB" portable yes
    step "$dir: $W delete (hex key)" $W --hex delete "$DB" 00000000ff006b6579
    step "$dir: $W bench (flushes and compactions)" $W bench "$DB" --num 30000 --value-size 200 --order seq
    step "$dir: $W compact" $W compact "$DB"
    step "$dir: $W put after compaction (left in the WAL)" $W put "$DB" wal-only tail
    step "$dir: $R verify" $R verify "$DB"
    if [ "$($R get "$DB" wal-only 2>&1)" = "tail" ]; then pass "$dir: $R get reads $W's WAL"; else fail "$dir: $R get reads $W's WAL"; fi
    native export "$DB" "$WORK/$dir.native.txt" >/dev/null 2>&1 || true
    wasi export "$DB" "$WORK/$dir.wasi.txt" >/dev/null 2>&1 || true
    same "$dir: native and WASI export identical contents" "$WORK/$dir.native.txt" "$WORK/$dir.wasi.txt"
    native scan "$DB" --reverse --limit 100 --format hex >"$WORK/$dir.native.scan" 2>&1 || true
    wasi scan "$DB" --reverse --limit 100 --format hex >"$WORK/$dir.wasi.scan" 2>&1 || true
    same "$dir: native and WASI reverse scans identical" "$WORK/$dir.native.scan" "$WORK/$dir.wasi.scan"
    step "$dir: $W verify after $R opened it" $W verify "$DB"
done

# The two databases hold the same logical data, whoever wrote them.
same "native-written and wasi-written databases hold the same entries" \
    "$WORK/native-written.native.txt" "$WORK/wasi-written.native.txt"

# A second WASI runtime: Node's node:wasi reads the Wasmtime-written database the same way.
if command -v node >/dev/null 2>&1; then
    DB=$WORK/wasi-written
    if WASI_DIRS="$WORK" node --no-warnings scripts/node-wasi-run.mjs "$WASM" --quiet verify "$DB" >/dev/null 2>"$WORK/node.err" \
        && WASI_DIRS="$WORK" node --no-warnings scripts/node-wasi-run.mjs "$WASM" export "$DB" "$WORK/node.txt" >/dev/null 2>>"$WORK/node.err"; then
        same "node:wasi verifies and exports the Wasmtime-written database identically" "$WORK/wasi-written.native.txt" "$WORK/node.txt"
    else
        fail "node:wasi verify/export"; sed 's/^/      /' "$WORK/node.err" | tail -10
    fi
else
    echo "SKIP  node:wasi (node not installed)"
fi

# Corruption written natively is reported by the WASI build with the same exit code (5).
DB=$WORK/native-written
SST=$(ls "$DB" | grep '\.sst$' | head -1)
python3 - "$DB/$SST" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[100] ^= 0x10
open(p, "wb").write(b)
PY
wasi verify "$DB" >/dev/null 2>"$WORK/corrupt.err"; rc=$?
if [ $rc -eq 5 ] && grep -q "$SST" "$WORK/corrupt.err"; then
    pass "WASI verify reports a flipped bit in $SST with exit 5"
else
    fail "WASI verify on a flipped bit: exit $rc"; sed 's/^/      /' "$WORK/corrupt.err"
fi
native verify "$DB" >/dev/null 2>&1; rc=$?
if [ $rc -eq 5 ]; then pass "native verify agrees (exit 5)"; else fail "native verify on a flipped bit: exit $rc"; fi

if [ $FAILS -eq 0 ]; then
    echo "portability check: PASS"
else
    echo "portability check: FAIL ($FAILS step(s))"
    exit 1
fi
