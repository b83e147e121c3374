#!/usr/bin/env bash
# Runs every state-decoder fuzz target for a short while (default 20 s each, one after another).
#   scripts/fuzz_smoke.sh [seconds-per-target] [target ...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each run starts from
# the committed seeds (real states from rust/fuzz/write_seeds.py) plus what earlier runs found
# (rust/fuzz/corpus/, git-ignored). An allocation over 512 MB, RSS over 2 GB, a panic or a
# 10 s input is a finding: libFuzzer writes it to rust/fuzz/artifacts/<target>/ and this
# script exits non-zero.
set -euo pipefail
seconds="${1:-20}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decode_psi_reference decode_psi_accumulator decode_covariance decode_pca decode_rff)
fi
cd "$root"
# Debug assertions are on (cargo-fuzz's default): an integer overflow is a panic, so a finding.
cargo +nightly fuzz build --fuzz-dir rust/fuzz "${targets[@]:0:1}" >/dev/null  # the first build compiles the deps
status=0
for t in "${targets[@]}"; do
    mkdir -p "rust/fuzz/corpus/$t"
    log="$(mktemp)"
    start=$(date +%s)
    if cargo +nightly fuzz run --fuzz-dir rust/fuzz "$t" "rust/fuzz/corpus/$t" "rust/fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        verdict=ok
    else
        verdict=FINDING
        status=1
        grep -E "panicked|ERROR: libFuzzer|SUMMARY|artifact_prefix|Test unit written" "$log" || true
    fi
    execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    rss=$(grep -oE "stat::peak_rss_mb: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    echo "$t: $verdict, $execs execs, peak RSS ${rss} MB, $(($(date +%s) - start)) s (incl. build)"
    rm -f "$log"
done
exit $status
