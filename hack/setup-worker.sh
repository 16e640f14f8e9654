#!/usr/bin/env bash
# Prepares a Debian or Ubuntu host as a SkyPanel PaaS worker and joins it to
# the Swarm:
#
#   sudo bash hack/setup-worker.sh <TOKEN> <MANAGER_IP>
#
# TOKEN and MANAGER_IP come from `paasctl admin nodes join-command` (or
# GET /api/admin/paas/workers/join-command), which reads what `paasd init`
# stored. The script:
#
#   - installs Debian's docker.io when no Docker engine is installed, and
#     starts it;
#   - opens Swarm's ports in the firewall: 2377/tcp (cluster management),
#     7946/tcp+udp (node gossip), 4789/udp (overlay traffic), through ufw
#     when it is active, otherwise with iptables;
#   - joins the Swarm as a worker (ADVERTISE_ADDR, if set, is the address
#     the node advertises).
#
# The node then appears `pending` in `paasctl admin nodes list`, held at
# availability drain until an admin approves it:
#
#   paasctl admin nodes approve "$(hostname)"
#
# Idempotent: a host already in a Swarm is left as it is.
set -euo pipefail

log() { printf 'setup-worker: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  echo "usage: $0 <TOKEN> <MANAGER_IP>" >&2
  exit 2
}

[ "$#" -eq 2 ] || usage
token=$1
manager=$2
case "$token" in SWMTKN-*) ;; *) die "TOKEN must be a Swarm join token (SWMTKN-...)" ;; esac
[ -n "$manager" ] || usage
case "$manager" in *:*) ;; *) manager="$manager:2377" ;; esac

[ "$(id -u)" = 0 ] || die "run as root (sudo)"

check_os() {
  [ -r /etc/os-release ] || die "no /etc/os-release: this script supports Debian and Ubuntu"
  local id like
  # shellcheck source=/dev/null # the host's own file
  id=$(. /etc/os-release && echo "${ID:-}")
  # shellcheck source=/dev/null
  like=$(. /etc/os-release && echo "${ID_LIKE:-}")
  case " $id $like " in
    *" debian "* | *" ubuntu "*) ;;
    *) die "unsupported system '$id': this script supports Debian and Ubuntu" ;;
  esac
}

install_docker() {
  if command -v dockerd >/dev/null 2>&1; then
    log "Docker engine already installed"
  else
    log "installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io
  fi
  # No app task may gain privileges through setuid binaries: the Swarm API
  # of engines before 1.46 cannot ask it per service, so the engine does.
  if [ ! -f /etc/docker/daemon.json ]; then
    mkdir -p /etc/docker
    echo '{"no-new-privileges": true}' >/etc/docker/daemon.json
    if docker info >/dev/null 2>&1 && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl restart docker
    fi
  elif ! grep -q '"no-new-privileges": *true' /etc/docker/daemon.json; then
    log "warning: add \"no-new-privileges\": true to /etc/docker/daemon.json and restart Docker (apps should not gain privileges)"
  fi
  if docker info >/dev/null 2>&1; then return; fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl enable --now docker
  else
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  local i
  for i in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then return; fi
    sleep 0.5
  done
  die "the Docker engine did not start within 60 s (after $i tries)"
}

open_firewall() {
  local rule proto port
  local rules=(2377/tcp 7946/tcp 7946/udp 4789/udp)
  if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then
    for rule in "${rules[@]}"; do
      log "ufw: allowing $rule"
      ufw allow "$rule" >/dev/null
    done
    return
  fi
  if ! command -v iptables >/dev/null 2>&1; then
    log "no ufw or iptables found: make sure ${rules[*]} are open between the nodes"
    return
  fi
  for rule in "${rules[@]}"; do
    port=${rule%/*}
    proto=${rule#*/}
    if ! iptables -C INPUT -p "$proto" --dport "$port" -j ACCEPT 2>/dev/null; then
      log "iptables: accepting $rule"
      iptables -I INPUT -p "$proto" --dport "$port" -j ACCEPT
    fi
  done
}

join_swarm() {
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" = active ]; then
    log "this host is already part of a Swarm (node $(docker info --format '{{.Swarm.NodeID}}')); nothing to join"
    return
  fi
  local args=(swarm join --token "$token")
  if [ -n "${ADVERTISE_ADDR:-}" ]; then
    args+=(--advertise-addr "$ADVERTISE_ADDR")
  fi
  log "joining the Swarm at $manager"
  docker "${args[@]}" "$manager"
  log "joined as node $(docker info --format '{{.Swarm.NodeID}}'): it is pending until an admin approves it:"
  log "  paasctl admin nodes approve $(hostname)"
}

check_os
install_docker
open_firewall
join_swarm
