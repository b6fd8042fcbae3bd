#!/usr/bin/env bash
# Installs the Debian packages DeltaSync builds and tests against, if any is missing: the build's
# C libraries, and chromium and chromium-driver for the page's real-browser test. With --bench,
# also the peers the benchmarks run beside deltasync: rsync, git, and gcc (the graph benchmark
# compares its include edges with gcc -MM). With --strace, strace (scripts/check-descriptors.sh).
# Idempotent and quiet when everything is present.
set -euo pipefail
needed=(libsqlite3-dev zlib1g-dev curl openssl git chromium chromium-driver)
for argument in "$@"; do
  case "$argument" in
    --bench) needed+=(rsync git gcc) ;;
    --strace) needed+=(strace) ;;
    *) echo "usage: $0 [--bench] [--strace]" >&2; exit 2 ;;
  esac
done
missing=()
for package in "${needed[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
