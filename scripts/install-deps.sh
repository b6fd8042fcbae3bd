#!/usr/bin/env bash
# Installs the Debian packages DeltaSync builds and tests against, if any is missing.
# Idempotent and quiet when everything is present (the default on this machine kind).
set -euo pipefail
needed=(libsqlite3-dev zlib1g-dev curl openssl git)
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
