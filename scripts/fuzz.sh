#!/usr/bin/env bash
# Fuzzes the bundle reader (gzip → tar → manifest/operations JSON → content matcher) with
# libFuzzer, or replays the seed corpus and the regressions through the ordinary build.
#
#   scripts/fuzz.sh [SECONDS] [LIBFUZZER_FLAG...]   fuzz for SECONDS of wall time (default 60)
#   scripts/fuzz.sh --replay [PATH...]              replay corpus + regressions (+ PATHs)
#   scripts/fuzz.sh --replay --emit DIR FILE...     replay FILEs, saving the .tar.gz each became
#
# Builds go to .build-fuzz/ (never .build/), fuzzing state to .fuzz/ (both git-ignored):
# .fuzz/corpus grows across runs, .fuzz/artifacts/ receives crash-, timeout-, leak- and oom-
# files, .fuzz/fuzz-*.log keeps each run's output. Exits non-zero when a run leaves a new artifact.
# Extra flags go to libFuzzer, e.g. `scripts/fuzz.sh 600 -use_value_profile=1`.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=.build-fuzz
SEEDS=Tests/Fuzz/corpus/bundle
REGRESSIONS=Tests/Fuzz/regressions
DICTIONARY=Tests/Fuzz/bundle.dict
WORK=.fuzz
# Fuzzing build: coverage + AddressSanitizer on every Swift module, our own `main` calling
# libFuzzer's LLVMFuzzerRunDriver (SwiftPM links executables with `--defsym main=<Module>_main`).
FUZZ_FLAGS=(
    -c release --scratch-path "$SCRATCH/libfuzzer" --product deltasync-fuzz
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DDELTASYNC_LIBFUZZER
    -Xswiftc -enable-experimental-feature -Xswiftc Extern
)
REPLAY_FLAGS=(--scratch-path "$SCRATCH/normal" --product deltasync-fuzz)
# Let libFuzzer and ASan report crashes; the Swift runtime's backtracer can hang under them.
export SWIFT_BACKTRACE=enable=no
# The shared Swift runtime, as the sanitizers expect (release builds link it statically otherwise).
export DELTASYNC_DYNAMIC_STDLIB=1

# The whole run is one function, read before it starts: editing this file while a long run is
# going on cannot change what the run does next.
main() {
    if [[ "${1:-}" == "--replay" ]]; then
        shift
        nice -n 19 swift build "${REPLAY_FLAGS[@]}"
        binary="$(swift build "${REPLAY_FLAGS[@]}" --show-bin-path)/deltasync-fuzz"
        if [[ "${1:-}" == "--emit" ]]; then
            exec "$binary" -v "$@"
        fi
        exec "$binary" -v "$SEEDS" "$REGRESSIONS" "$@"
    fi

    local seconds="${1:-60}" binary before log status last new
    [[ $# -gt 0 ]] && shift
    if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
        echo "usage: scripts/fuzz.sh [SECONDS] [LIBFUZZER_FLAG...] | scripts/fuzz.sh --replay [PATH...]" >&2
        exit 2
    fi

    nice -n 19 swift build "${FUZZ_FLAGS[@]}"
    binary="$(swift build "${FUZZ_FLAGS[@]}" --show-bin-path)/deltasync-fuzz"

    mkdir -p "$WORK/corpus" "$WORK/artifacts"
    cp -n "$SEEDS"/* "$WORK/corpus/"
    before="$(ls "$WORK/artifacts")"
    log="$WORK/fuzz-$(date +%Y%m%d-%H%M%S).log"
    echo "fuzzing for ${seconds}s; log: $log"

    status=0
    nice -n 19 "$binary" "$WORK/corpus" \
        -max_total_time="$seconds" -dict="$DICTIONARY" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$WORK/artifacts/" -max_len=32768 -print_final_stats=1 "$@" >"$log" 2>&1 || status=$?

    # MARK: - Summary
    last="$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1 || true)"
    echo
    echo "== deltasync-fuzz summary (libFuzzer exit $status) =="
    echo "last status:   ${last:-none}"
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
    echo "coverage:      $(grep -oE 'cov: [0-9]+ ft: [0-9]+' <<<"$last" || echo unknown)"
    echo "corpus:        $(find "$WORK/corpus" -type f | wc -l) files, $(du -sh "$WORK/corpus" | cut -f1)"
    new="$(comm -13 <(echo "$before") <(ls "$WORK/artifacts") | sed '/^$/d')"
    echo "artifacts:     $(ls "$WORK/artifacts" | wc -l) in $WORK/artifacts ($(echo -n "$new" | grep -c . || true) new)"
    for artifact in $new; do echo "  NEW $WORK/artifacts/$artifact"; done
    if [[ -n "$new" || $status -ne 0 ]]; then
        echo "FAILED: see $log. Minimise: $binary -minimize_crash=1 -runs=10000 $WORK/artifacts/<file>;"
        echo "then: scripts/fuzz.sh --replay --emit $REGRESSIONS <minimised> and rename it after its cause."
        exit 1
    fi
    echo "no crash, timeout or leak"
}

main "$@"
