#!/usr/bin/env bash
# Installs Debian's docker-registry (the CNCF distribution server) when it
# is missing. Tests start their own instance on a loopback port, which
# Docker trusts without TLS (127.0.0.0/8 is an insecure registry by default).
set -euo pipefail
if ! command -v docker-registry >/dev/null 2>&1 && [ ! -x /usr/bin/docker-registry ]; then
  echo "registry-up: installing docker-registry" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q docker-registry >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q docker-registry >/dev/null
  }
fi
# The package starts a system instance on :5000; the tests do not use it.
