#!/usr/bin/env bash
# Builds the npm package cairn-db into wasm/pkg/:
#   cargo build -p cairn-wasm-bundle (profile wasm-release; the cdylib that links cairn-wasm
#   without std, see wasm/bundle) -> wasm-bindgen --target web (the pinned CLI)
#   -> wasm-opt -Oz --converge --strip-debug --strip-producers (binaryen from npm,
#   package-lock'd in wasm/js) -> copies the JS/TS wrapper (JS minified with terser); then reports
#   the bundle size raw and gzipped and fails when the gzipped wasm + JS is over the budget,
#   150 KiB (what each part costs, and what was cut to get back under it: docs/BENCHMARKS.md,
#   "Browser bundle size").
#
#   wasm/build.sh            # needs what .ci/setup-wasm.sh installs
#   CAIRN_SIZE_BUDGET=<bytes> wasm/build.sh   # another budget
set -euo pipefail

# shellcheck source=.ci/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/wasm-env.sh"
cd "$CAIRN_ROOT"

BUDGET="${CAIRN_SIZE_BUDGET:-153600}"
JS="$CAIRN_ROOT/wasm/js"
OUT="$CAIRN_ROOT/wasm/pkg"
TARGET_DIR="${CARGO_TARGET_DIR:-$CAIRN_ROOT/target}"

if ! has_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
    echo "error: wasm-bindgen $WASM_BINDGEN_VERSION not found; run .ci/setup-wasm.sh" >&2
    exit 1
fi
if [ ! -x "$JS/node_modules/.bin/wasm-opt" ] || [ ! -x "$JS/node_modules/.bin/terser" ]; then
    echo "==> npm ci in wasm/js (binaryen, terser)"
    (cd "$JS" && npm ci --no-audit --no-fund)
fi

echo "==> cargo build -p cairn-wasm-bundle --target wasm32-unknown-unknown --profile wasm-release"
cargo build -p cairn-wasm-bundle --target wasm32-unknown-unknown --profile wasm-release
MODULE="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/cairn_db.wasm"

rm -rf "$OUT"
mkdir -p "$OUT"
echo "==> wasm-bindgen --target web"
wasm-bindgen --target web --no-typescript --out-dir "$OUT" --out-name cairn_wasm "$MODULE"
# The raw (un-optimized) d.ts of the bindings is useful to wrapper authors; keep it.
wasm-bindgen --target web --out-dir "$OUT/.types" --out-name cairn_wasm "$MODULE"
cp "$OUT/.types/cairn_wasm.d.ts" "$OUT/cairn_wasm.d.ts"
rm -rf "$OUT/.types"

echo "==> wasm-opt -Oz --converge --strip-debug --strip-producers"
"$JS/node_modules/.bin/wasm-opt" -Oz --converge --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$OUT/cairn_wasm_bg.opt.wasm" "$OUT/cairn_wasm_bg.wasm"
mv "$OUT/cairn_wasm_bg.opt.wasm" "$OUT/cairn_wasm_bg.wasm"

cp "$JS/index.d.ts" "$JS/node.d.ts" "$JS/README.md" "$OUT/"
# package.json without the build-only devDependencies.
node -e 'const p=require(process.argv[1]); delete p.devDependencies; console.log(JSON.stringify(p,null,2))' \
    "$JS/package.json" > "$OUT/package.json"
# The JS modules, minified (terser, package-lock'd in wasm/js); CAIRN_NO_MINIFY=1 copies them.
echo "==> terser (ES modules)"
for f in index.js engine.js worker.js node.js; do
    cp "$JS/$f" "$OUT/$f"
done
if [ "${CAIRN_NO_MINIFY:-0}" != 1 ]; then
    for f in index.js engine.js worker.js cairn_wasm.js; do
        "$JS/node_modules/.bin/terser" "$OUT/$f" --module --compress --mangle -o "$OUT/$f.min"
        mv "$OUT/$f.min" "$OUT/$f"
    done
fi

# Sizes: what a page downloads (wasm + the JS modules), raw and gzipped (-9).
raw=0
gz=0
printf '==> bundle size\n'
for f in cairn_wasm_bg.wasm cairn_wasm.js engine.js worker.js index.js; do
    r=$(stat -c %s "$OUT/$f")
    g=$(gzip -9 -c "$OUT/$f" | wc -c)
    printf '    %-20s %8d bytes raw %8d bytes gzipped\n' "$f" "$r" "$g"
    raw=$((raw + r))
    gz=$((gz + g))
done
printf '    %-20s %8d bytes raw (%d KiB) %8d bytes gzipped (%d KiB); budget %d KiB gzipped\n' \
    total "$raw" $((raw / 1024)) "$gz" $((gz / 1024)) $((BUDGET / 1024))
printf '{"raw": %d, "gzip": %d, "budget": %d}\n' "$raw" "$gz" "$BUDGET" > "$OUT/size.json"
if [ "$gz" -gt "$BUDGET" ]; then
    echo "error: bundle is $gz bytes gzipped, over the budget of $BUDGET" >&2
    exit 1
fi
# The installable tarball, as `npm publish` would upload it: wasm/pkg/cairn-db-<version>.tgz
# (install it in an app with `npm install <path>/cairn-db-<version>.tgz`).
echo "==> npm pack"
(cd "$OUT" && npm pack --silent --pack-destination "$OUT" >/dev/null)
ls "$OUT"/cairn-db-*.tgz
echo "==> wasm/pkg ready"
