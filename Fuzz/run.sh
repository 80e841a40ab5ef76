#!/usr/bin/env bash
# Runs each fuzz target (built by `make fuzz-build`) for FUZZ_SECONDS seconds (30 by default),
# or FUZZ_RUNS executions when that is set (then FUZZ_SECONDS, if set, caps the time), from its seeds (Fuzz/corpus/<target>) plus what earlier runs found
# ($FUZZ_SCRATCH/corpus/<target>; FUZZ_SCRATCH is .build-fuzz by default), and prints executions,
# coverage and time per target. Exits non-zero when any target finds a crash, a hang, a leak or an
# out-of-memory input; the input is saved as $FUZZ_SCRATCH/artifacts/<target>-crash-... (or
# -timeout-, -oom-, -leak-) and the end of the target's log is shown. FUZZ_TARGETS="core ..."
# runs only those; FUZZ_CONFIG=release runs the Swift targets of a release build.
set -uo pipefail
cd "$(dirname "$0")/.."

scratch=${FUZZ_SCRATCH:-.build-fuzz}
bin=$scratch/${FUZZ_CONFIG:-debug}
seconds=${FUZZ_SECONDS:-30}
# name:binary:max_len (the core's inputs are operation sequences: longer ones reach deeper states).
all=(core:$scratch/core/larder-core-fuzz:1024
     disk-record:$bin/FuzzDiskRecord:4096 journal-frames:$bin/FuzzJournalFrames:4096
     journal-ops:$bin/FuzzJournalOps:4096 recency-key:$bin/FuzzRecencyKey:1024
     call-key:$bin/FuzzCallKey:4096 byte-codable:$bin/FuzzByteCodable:4096
     resp3-reply:$bin/FuzzRESP3Reply:4096 resp3-push:$bin/FuzzRESP3Push:4096)
selected=${FUZZ_TARGETS:-}

# The trap message is enough: the Swift backtracer, under ASan, reports errors of its own.
export SWIFT_BACKTRACE=enable=no
mkdir -p $scratch/artifacts $scratch/logs
failed=0
printf '%-15s %12s %8s %8s %8s %s\n' target executions cov ft seconds result
for entry in "${all[@]}"; do
    IFS=: read -r name exe max_len <<< "$entry"
    if [ -n "$selected" ] && [[ " $selected " != *" $name "* ]]; then continue; fi
    mkdir -p $scratch/corpus/$name
    log=$scratch/logs/$name.log
    limit=(-max_total_time="$seconds")
    if [ -n "${FUZZ_RUNS:-}" ]; then  # FUZZ_SECONDS, when also given, still caps the time
        limit=(-runs="$FUZZ_RUNS")
        if [ -n "${FUZZ_SECONDS:-}" ]; then limit+=(-max_total_time="$FUZZ_SECONDS"); fi
    fi
    start=$(date +%s)
    # -timeout: an input taking 25 s is a hang; -rss_limit_mb bounds memory (and malloc) per input.
    "$exe" "${limit[@]}" -max_len="$max_len" -timeout=25 -rss_limit_mb=3072 -print_final_stats=1 \
        -artifact_prefix=$scratch/artifacts/$name- $scratch/corpus/$name Fuzz/corpus/$name > "$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    status_line=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$status_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$status_line")
    result=ok
    if [ $rc -ne 0 ]; then result="FAILED (exit $rc, log $log)"; failed=1; fi
    printf '%-15s %12s %8s %8s %8s %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$elapsed" "$result"
    if [ $rc -ne 0 ]; then grep -v '^#[0-9]' "$log" | tail -40; fi
done
exit $failed
