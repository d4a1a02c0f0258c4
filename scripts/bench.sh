#!/usr/bin/env bash
# Runs Cairn's benchmarks and writes docs/BENCHMARKS.md (+ SVG plots in docs/benchmarks/).
#
#   scripts/bench.sh                    # Cairn + RocksDB, fjall, redb, sled; N = 1M
#   N=100000 scripts/bench.sh           # smaller
#   ENGINES=cairn scripts/bench.sh      # Cairn only (no peer build)
#   MICRO=1 scripts/bench.sh            # also run the criterion micro-benchmarks first
#                                       # (their last output is summarized in the report)
#
# Environment: N (keys, default 1000000), SYNC_N (durable writes per sync workload, default
# 20000), ENGINES (comma-separated, default cairn,rocksdb,fjall,redb,sled), EXTRA (more
# harness arguments), CARGO_TARGET_DIR (the peers build is large; default target-peers/ when
# peers are included so it does not disturb the normal target/), NOTES (Markdown appended to
# the report, default benches/NOTES.md).
#
# RocksDB's build (librocksdb-sys, C++) needs clang and libclang: `apt-get install -y clang
# libclang-dev`. It takes ~30 min on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
SYNC_N=${SYNC_N:-20000}
ENGINES=${ENGINES:-cairn,rocksdb,fjall,redb,sled}
NOTES=${NOTES:-benches/NOTES.md}
EXTRA=${EXTRA:-}

features=()
if [[ "$ENGINES" != "cairn" ]]; then
    features=(--features peers)
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-peers}
    if ! command -v clang >/dev/null || [[ "$(ldconfig -p 2>/dev/null)" != *libclang* ]]; then
        echo "bench.sh: RocksDB needs clang + libclang: apt-get install -y clang libclang-dev" >&2
    fi
fi
target=${CARGO_TARGET_DIR:-$PWD/target}

mkdir -p "$target"
if [[ -n "${MICRO:-}" ]]; then
    cargo bench -p cairn-bench 2>&1 | tee "$target/micro-bench.txt"
fi

notes=()
[[ -f "$NOTES" ]] && notes=(--notes "$NOTES")
# The last micro-benchmark output, if any, is summarized in the report.
[[ -f "$target/micro-bench.txt" ]] && notes+=(--micro "$target/micro-bench.txt")

nice -n 0 cargo build --release -p cairn-bench "${features[@]}"
mkdir -p "$target/bench"
# shellcheck disable=SC2086
"$target/release/cairn-bench" \
    --engines "$ENGINES" --num "$N" --sync-num "$SYNC_N" \
    --dir "$target/bench/db" --json "$target/bench/results.json" \
    --report docs/BENCHMARKS.md "${notes[@]}" $EXTRA
cp "$target/bench/results.json" docs/benchmarks/results.json
echo "bench.sh: wrote docs/BENCHMARKS.md, docs/benchmarks/*.svg and docs/benchmarks/results.json"
