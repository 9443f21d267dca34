#!/usr/bin/env bash
# The fuzz campaign: every cargo-fuzz target of fuzz/ for MINUTES each, one
# after another (not in parallel: the campaign shares the machine), starting
# from the committed seed corpus. Prints executions, exec/s, coverage and peak
# RSS per target; a crash, leak, timeout or out-of-memory stops that target,
# lands in fuzz/artifacts/<target>/ and makes the script exit 1 at the end.
#
#   testing/fuzz/campaign.sh [MINUTES] [TARGET...]     (default: 10, all)
#
# Needs the nightly toolchain (`cargo xtask install`) and cargo-fuzz, which
# it installs when missing (`cargo install cargo-fuzz --locked`).
# Environment: FUZZ_NICE (default 15), FUZZ_RSS_LIMIT_MB (libFuzzer's
# -rss_limit_mb, default 2048), FUZZ_TIMEOUT_S (per input, default 10).
# Leaks are checked (-detect_leaks=1, LeakSanitizer). Logs go to
# fuzz/target/campaign/<UTC time>/<target>.log. Not part of CI, which only
# builds the targets (`cargo +nightly check` in xtask/src/test.rs).
set -euo pipefail

minutes=${1:-10}
shift || true
[[ $minutes =~ ^[0-9]+$ && $minutes -gt 0 ]] || {
    echo "campaign.sh: MINUTES must be a positive whole number, got '$minutes'" >&2
    exit 2
}
nice_level=${FUZZ_NICE:-15}
rss_limit=${FUZZ_RSS_LIMIT_MB:-2048}
timeout_s=${FUZZ_TIMEOUT_S:-10}

cd "$(dirname "$0")/../../fuzz"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "campaign: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || {
        echo "campaign.sh: cargo-fuzz is missing and did not install; try: cargo install cargo-fuzz --locked" >&2
        exit 2
    }
fi
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
logs="target/campaign/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"

echo "campaign: ${#targets[@]} targets x ${minutes} min, nice ${nice_level}, rss limit ${rss_limit} MB, logs in fuzz/$logs"
nice -n "$nice_level" cargo +nightly fuzz build >"$logs/build.log" 2>&1 \
    || { echo "campaign.sh: build failed, see fuzz/$logs/build.log" >&2; exit 1; }

stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
failed=0
printf '%-18s %8s %12s %8s %7s %7s %8s  %s\n' target seconds executions exec/s cov ft rss_mb result
for t in "${targets[@]}"; do
    log="$logs/$t.log"
    mkdir -p "corpus/$t" "artifacts/$t"
    start=$(date +%s)
    rc=0
    nice -n "$nice_level" cargo +nightly fuzz run "$t" -- \
        -max_total_time=$((minutes * 60)) -print_final_stats=1 \
        -rss_limit_mb="$rss_limit" -timeout="$timeout_s" -detect_leaks=1 \
        >"$log" 2>&1 || rc=$?
    secs=$(($(date +%s) - start))
    execs=$(stat_of number_of_executed_units "$log")
    rate=$(stat_of average_exec_per_sec "$log")
    rss=$(stat_of peak_rss_mb "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [[ $rc -ne 0 ]]; then
        result="FAILED rc=$rc: $(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked)' "$log" || echo 'see log')"
        failed=1
    fi
    printf '%-18s %8s %12s %8s %7s %7s %8s  %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "${rss:-?}" "$result"
done
echo "campaign: crashes (if any) are in fuzz/artifacts/<target>/; logs in fuzz/$logs"
exit "$failed"
