#!/usr/bin/env bash
# Runs every test, the real-browser page test included: installs what the tests need (Debian's
# chromium and chromium-driver among them) and runs `swift test` with the browser required, so a
# missing browser fails instead of skipping. Extra arguments go to `swift test`.
#
# The tests run under a watchdog: a run still going after DELTASYNC_TEST_LIMIT_SECS (default
# 1200; a whole run takes about two minutes) is a hang, not slowness. The watchdog prints the
# tests that started and never finished, every thread's stack of the test process (with gdb),
# and the processes it started, then stops it, so a hang fails in minutes with its cause.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export DELTASYNC_REQUIRE_BROWSER=1

# Built first, so the watchdog times the tests only.
swift build --build-tests
log=$(mktemp /tmp/deltasync-test-log.XXXXXX)
limit=${DELTASYNC_TEST_LIMIT_SECS:-1200}

# Line-buffered, so what a CI log shows is what has happened (not up to 64 KiB behind).
# In a process group of its own (setsid), so the watchdog can freeze and end all of it at once.
setsid stdbuf -oL -eL swift test --skip-build "$@" > >(tee "$log") 2>&1 &
tests=$!

# Every process below $1, deepest last.
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

watchdog() {
    # Polls rather than sleeping once, so it ends within a second of the tests.
    for ((waited = 0; waited < limit; waited++)); do
        sleep 1
        kill -0 "$tests" 2>/dev/null || return 0
    done
    echo
    echo "=== the tests are still running after ${limit} s: stopping them ==="
    echo "--- started and not finished:"
    sed -nE 's/^◇ Test (.*) started\.$/\1/p' "$log" | grep -v '^case passing' | sort -u > "$log.started" || true
    sed -nE 's/^(✔|✘) Test (.*) (passed|failed) after .*/\2/p' "$log" | sed -E 's/ with [0-9]+ test cases?$//' \
        | sort -u > "$log.finished" || true
    comm -23 "$log.started" "$log.finished" || true
    # Frozen first: nothing new starts while it is looked at, and nothing escapes the kill.
    kill -STOP -- "-$tests" 2>/dev/null || true
    local all
    all=$(descendants "$tests")
    echo "--- processes the run started:"
    # shellcheck disable=SC2086
    [ -n "$all" ] && ps -o pid,ppid,etimes,args -p "$(echo $all | tr ' ' ',')" | cut -c1-200 || true
    for pid in $(pgrep -f 'PackageTests.xctest' || true); do
        if command -v gdb > /dev/null; then
            echo "--- threads of the test process $pid:"
            timeout 120 gdb -p "$pid" -batch -ex 'thread apply all bt 30' 2>/dev/null \
                | grep -E '^(Thread|#)' | swift demangle --simplified | cut -c1-240 | head -1500 || true
        fi
    done
    # The whole tree, so no server, browser or mirror outlives the run holding its output open.
    # shellcheck disable=SC2086
    kill -9 -- "-$tests" $all 2>/dev/null || true
}
watchdog &
guard=$!

status=0
wait "$tests" || status=$?
wait "$guard" 2>/dev/null || true
rm -f "$log" "$log.started" "$log.finished"
exit "$status"
