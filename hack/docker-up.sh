#!/usr/bin/env bash
# Makes a Docker engine in Swarm mode available on this machine, with the
# overlay networks the platform attaches services to.
#
#   - installs Debian's docker.io when no dockerd exists and we run as root
#     on Debian/Ubuntu (otherwise says what to install and fails);
#   - starts dockerd in the background when nothing answers on the socket;
#   - runs `docker swarm init --advertise-addr 127.0.0.1` when Swarm is inactive;
#   - creates the attachable overlay networks paas-public and paas-infrastructure.
#
# Idempotent: running it again on a ready machine changes nothing.
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*" >&2; }

ensure_installed() {
  if command -v dockerd >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "no dockerd found: install Docker Engine (Debian/Ubuntu: apt-get install docker.io) and run again"
    exit 1
  fi
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
}

ensure_running() {
  if docker info >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" != 0 ]; then
    log "dockerd is not running and we are not root: start it (sudo systemctl start docker) and run again"
    exit 1
  fi
  local logfile=${DOCKERD_LOG:-/var/log/paas-dockerd.log}
  log "starting dockerd in the background (log: $logfile)"
  # --iptables stays on: host-mode published ports need it.
  # --no-new-privileges: no app task may gain privileges through setuid
  # binaries; the Swarm API of engines before 1.46 cannot ask it per service.
  nohup dockerd --no-new-privileges >"$logfile" 2>&1 &
  for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then return; fi
    sleep 0.5
  done
  log "dockerd did not answer within 60s; last lines of $logfile:"
  tail -n 20 "$logfile" >&2 || true
  exit 1
}

ensure_swarm() {
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" = active ]; then return; fi
  log "initialising Swarm (was: $state)"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
}

ensure_network() {
  local name=$1
  if docker network inspect "$name" >/dev/null 2>&1; then return; fi
  log "creating overlay network $name"
  docker network create --driver overlay --attachable "$name" >/dev/null
}

ensure_installed
ensure_running
ensure_swarm
ensure_network paas-public
ensure_network paas-infrastructure
log "ready: $(docker version --format 'engine {{.Server.Version}}'), swarm active"
