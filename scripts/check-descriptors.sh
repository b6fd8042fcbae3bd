#!/usr/bin/env bash
# Runs every test under strace and fails if any code closed a descriptor that was closed already.
#
# A second close of a descriptor number is harmless only when nothing reopened the number in
# between; in a process of many threads (the tests run servers and watchers side by side) it
# closes another thread's file, socket or directory, which then reads, writes or links through
# whatever gets the number next. Most second closes find the number still free and fail with
# EBADF: this lists each such close with the stack that made it. Closes of -1 and those of other
# programs the tests start (sh, git) are left out. About twice as slow as the plain test run.
# Extra arguments go to the test binary (for example --filter WatchTests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --strace
swift build --build-tests
binary=$(find .build/debug/ -maxdepth 1 -name '*PackageTests.xctest' | head -1)
trace=$(mktemp /tmp/deltasync-closes.XXXXXX)
status=0
strace -f -k --seccomp-bpf -qq -Z -e trace=close -e signal=none -o "$trace" \
  "$binary" --testing-library swift-testing "$@" || status=$?
# One record per failed close: the call line, then its stack (lines starting with " > "); kept
# when a frame of the stack is in a DeltaSync binary (the tests' own or `deltasync`).
doubles=$(awk '
  / close\(/ { if (record != "" && mine) print record "\n"; record = ""; mine = 0
               if ($0 ~ /EBADF/ && $0 !~ /close\(-1\)/) { record = $0 } ; next }
  /^ > / { if (record != "") { record = record "\n" $0; if ($0 ~ /deltasync/) mine = 1 } ; next }
  END { if (record != "" && mine) print record }
' "$trace")
if [ -n "$doubles" ]; then
  echo "descriptors closed twice:"
  echo "$doubles"
  status=1
else
  echo "no descriptor was closed twice"
fi
rm -f "$trace"
exit "$status"
