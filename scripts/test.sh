#!/usr/bin/env bash
# Runs every test, the real-browser page test included: installs what the tests need (Debian's
# chromium and chromium-driver among them) and runs `swift test` with the browser required, so a
# missing browser fails instead of skipping. Extra arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
DELTASYNC_REQUIRE_BROWSER=1 swift test "$@"
