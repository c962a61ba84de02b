#!/usr/bin/env bash
# libFuzzer over Tollgate's parsers and verifiers (Fuzz/README.md). One binary, tollgate-fuzz,
# built with -sanitize=fuzzer,address into .build-fuzz; the target is chosen by TOLLGATE_FUZZ_TARGET.
#   scripts/fuzz.sh build                 release build of the fuzz binary only (Fuzz/toolset.json)
#   scripts/fuzz.sh run [TARGET...]       each target for FUZZ_RUNS executions (default 10^6),
#                                         or FUZZ_MAX_SECONDS per target if set and reached first
#   scripts/fuzz.sh smoke [TARGET...]     each target for FUZZ_SECONDS (default 5), as CI runs it
#   scripts/fuzz.sh merge [TARGET...]     add the inputs that found new coverage to Fuzz/corpus
#   scripts/fuzz.sh seeds                 rewrite the seed-* files of Fuzz/corpus from the fixtures
#   scripts/fuzz.sh list                  the targets
# New inputs go to .build-fuzz/corpus/<target>; a crash, leak, timeout or broken invariant leaves
# its input in .build-fuzz/artifacts/<target>/ and fails the run. Copy it to Fuzz/regressions/<target>/
# once fixed: the TollgateFuzzTests suite replays every committed corpus and regression input.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"
scratch=.build-fuzz
binary="$scratch/release/tollgate-fuzz"
runs="${FUZZ_RUNS:-1000000}"
seconds="${FUZZ_SECONDS:-5}"
# One input may take this long before it counts as a hang (libFuzzer's default is 20 minutes).
timeout_seconds="${FUZZ_TIMEOUT:-10}"
# Leaks reported at exit that are not Tollgate's, each explained in the file.
export LSAN_OPTIONS="suppressions=$(pwd)/Fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

targets() {
  if [[ $# -gt 0 ]]; then printf '%s\n' "$@"; return; fi
  TOLLGATE_FUZZ_TARGET= "$binary" 2>&1 | sed -n 's/.*one of: //p' | tr ' ' '\n'
}

# Runs one target with the given libFuzzer limit; prints one summary line; returns libFuzzer's status.
fuzz_one() {
  local target="$1" limit="$2" log status
  mkdir -p "$scratch/corpus/$target" "$scratch/artifacts/$target" "Fuzz/regressions/$target"
  log="$scratch/artifacts/$target/last-run.log"
  local dictionary=()
  [[ -f "Fuzz/dictionaries/$target.dict" ]] && dictionary=("-dict=Fuzz/dictionaries/$target.dict")
  set +e
  TOLLGATE_FUZZ_TARGET="$target" "$binary" $limit -timeout="$timeout_seconds" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$scratch/artifacts/$target/" "${dictionary[@]}" \
    "$scratch/corpus/$target" "Fuzz/corpus/$target" "Fuzz/regressions/$target" >"$log" 2>&1
  status=$?
  set -e
  local executed rate seconds_taken coverage
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  seconds_taken=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  coverage=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  printf '%-26s %s  executions %-9s exec/s %-7s seconds %-5s %s\n' "$target" \
    "$([[ $status -eq 0 ]] && echo ok || echo FAILED)" "${executed:-?}" "${rate:-?}" "${seconds_taken:-?}" "${coverage:-}"
  if [[ $status -ne 0 ]]; then
    grep -E 'ERROR: |SUMMARY: |Fatal error|invariant violated|Test unit written' "$log" | head -8 | sed 's/^/    /'
  fi
  return $status
}

run_all() {
  local limit="$1"; shift
  local failed=0
  [[ -x "$binary" ]] || { echo "no $binary: run scripts/fuzz.sh build first" >&2; exit 1; }
  while read -r target; do
    [[ -n "$target" ]] || continue
    fuzz_one "$target" "$limit" || failed=$((failed + 1))
  done < <(targets "$@")
  if [[ $failed -ne 0 ]]; then echo "$failed target(s) failed; inputs in $scratch/artifacts/" >&2; exit 1; fi
}

case "${1:-}" in
  build)
    "$SWIFT" build -c release --scratch-path "$scratch" --toolset Fuzz/toolset.json --product tollgate-fuzz ;;
  run)
    shift
    if [[ -n "${FUZZ_MAX_SECONDS:-}" ]]; then run_all "-runs=$runs -max_total_time=$FUZZ_MAX_SECONDS" "$@"; else run_all "-runs=$runs" "$@"; fi ;;
  smoke) shift; run_all "-max_total_time=$seconds" "$@" ;;
  merge)
    shift
    while read -r target; do
      TOLLGATE_FUZZ_TARGET="$target" "$binary" -merge=1 "Fuzz/corpus/$target" "$scratch/corpus/$target" 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new files' || true
    done < <(targets "$@") ;;
  seeds) python3 Fuzz/make_seeds.py ;;
  list) targets ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
