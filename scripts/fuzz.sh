#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) and prints the executions per
# target. Needs a nightly toolchain and cargo-fuzz; says so and exits 0 when they are absent
# (so CI without nightly skips fuzzing instead of failing).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Limits: -rss_limit_mb=512 -malloc_limit_mb=256 (arbitrary bytes must never allocate
# unboundedly). Crashes land in fuzz/artifacts/<target>/; turn each into a regression test in
# tests/tests/fuzz_regressions.rs.
set -euo pipefail
secs="${1:-60}"
shift || true
cd "$(dirname "$0")/../fuzz"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain (rustup toolchain install nightly); skipping fuzzing"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz); skipping fuzzing"
    exit 0
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build
status=0
summary=""
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    echo "== $t: ${secs}s"
    if cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=256 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (see fuzz/artifacts/$t)"
        status=1
        tail -40 "$log"
    fi
    runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)"
    summary+="$(printf '%-16s %12s execs  %s' "$t" "${runs:-?}" "$result")"$'\n'
    rm -f "$log"
done
echo
echo "fuzz summary (${secs}s per target):"
printf '%s' "$summary"
exit $status
