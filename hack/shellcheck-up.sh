#!/usr/bin/env bash
# Makes shellcheck available: Debian's package, installed when missing and
# we run as root on Debian/Ubuntu (otherwise says what to install and fails).
set -euo pipefail
if command -v shellcheck >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "shellcheck-up: no shellcheck found: install it (Debian/Ubuntu: apt-get install shellcheck)" >&2
  exit 1
fi
echo "shellcheck-up: installing Debian's shellcheck" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq shellcheck >/dev/null
