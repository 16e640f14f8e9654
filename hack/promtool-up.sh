#!/usr/bin/env bash
# Makes promtool available: the deploy/stack and `paasd init` tests check the
# rendered Prometheus config with `promtool check config` and fail without it.
# Installs Debian's prometheus package (which ships promtool) when missing and
# we run as root on Debian/Ubuntu; otherwise says what to install and fails.
#
# Idempotent: with promtool on PATH it does nothing.
set -euo pipefail

log() { printf 'promtool-up: %s\n' "$*" >&2; }

if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no promtool found: install Prometheus's promtool (Debian/Ubuntu: apt-get install prometheus) and run again"
  exit 1
fi
log "installing Debian's prometheus (for promtool)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}
command -v promtool >/dev/null 2>&1 || { log "prometheus installed but promtool is not on PATH"; exit 1; }
