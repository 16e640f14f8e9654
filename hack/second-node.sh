#!/usr/bin/env bash
# A second Swarm node on this machine, for node-loss and drain tests: a
# dockerd of its own (data root, exec root, socket) inside a network
# namespace linked to the host by a veth pair, joined to the local Swarm as
# a worker.
#
#   hack/second-node.sh up NAME INDEX [IMAGE...]
#       create namespace NAME (addresses 10.231.INDEX.1 on the host side,
#       10.231.INDEX.2 inside; INDEX 1-254), start its dockerd, load IMAGEs
#       from the host engine into it, join the Swarm as a worker and print
#       the new node's Swarm id. The node is set to availability drain and
#       labelled paas.test.node=NAME (and SECOND_NODE_LABELS, "k=v ...")
#       before the script returns.
#   hack/second-node.sh stop NAME    stop its dockerd (the node goes down)
#   hack/second-node.sh start NAME   start its dockerd again (it rejoins)
#   hack/second-node.sh down NAME    stop everything, remove the node from
#       the Swarm (docker node rm --force), the namespace and the data dirs.
#       Idempotent: safe on a half-made node, and on one already gone.
#
# The local manager advertises 127.0.0.1; inside the namespace, traffic to
# 127.0.0.1 on Swarm's ports (2377/tcp, 7946/tcp+udp, 4789/udp) is
# redirected to the host end of the veth pair.
#
# Requires root, ip, nsenter, unshare and iptables.
set -euo pipefail

log() { printf 'second-node: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
cmd=${1:-}
name=${2:-}
if [ -z "$cmd" ] || [ -z "$name" ]; then die "usage: $0 up|stop|start|down NAME [INDEX IMAGE...]"; fi
case "$name" in *[!a-z0-9]*) die "NAME must be lowercase letters and digits" ;; esac
[ "${#name}" -le 10 ] || die "NAME must be at most 10 characters (interface names)"

state=/var/lib/paas-second-node/$name
execroot=/run/paas-sn/$name
sock=$execroot/docker.sock
netns=/var/run/netns/$name
host_if=vh$name
ns_if=vn$name

in_ns() { nsenter --net="$netns" "$@"; }
ndocker() { docker -H "unix://$sock" "$@"; }

start_daemon() {
  mkdir -p "$state/data" "$execroot"
  log "starting dockerd of $name (log: $state/dockerd.log)"
  # A UTS namespace of its own gives the node its own hostname; only the
  # network namespace is entered (ip netns exec would hide the cgroup
  # mounts dockerd needs).
  # shellcheck disable=SC2016 # expanded by the inner sh
  nohup nsenter --net="$netns" unshare --uts sh -c '
    hostname "$1"; shift
    exec "$@"' sh "$name" \
    dockerd --data-root "$state/data" --exec-root "$execroot" \
    -H "unix://$sock" --pidfile "$execroot/dockerd.pid" \
    --bridge none --iptables=false --ip-masq=false --no-new-privileges \
    --containerd-namespace "paas-$name" --containerd-plugins-namespace "paas-$name-plugins" \
    >>"$state/dockerd.log" 2>&1 &
  echo $! >"$state/launcher.pid"
  for _ in $(seq 1 240); do
    if ndocker info >/dev/null 2>&1; then return; fi
    sleep 0.25
  done
  tail -n 30 "$state/dockerd.log" >&2 || true
  die "dockerd of $name did not answer within 60s"
}

stop_daemon() {
  local pid
  pid=$(cat "$execroot/dockerd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd of $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Whatever is left in the namespace (containerd, shims, tasks).
  if [ -e "$netns" ]; then
    local pids
    pids=$(ip netns pids "$name" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086 # one pid per word
      kill -KILL $pids 2>/dev/null || true
    fi
  fi
  rm -f "$execroot/dockerd.pid"
}

up() {
  local index=${1:-}
  shift || true
  case "$index" in '' | *[!0-9]*) die "INDEX must be a number 1-254" ;; esac
  if [ "$index" -lt 1 ] || [ "$index" -gt 254 ]; then die "INDEX must be a number 1-254"; fi
  [ -e "$netns" ] && die "namespace $name exists; run down first"
  local host_ip=10.231.$index.1 ns_ip=10.231.$index.2
  mkdir -p "$state"
  log "creating namespace $name ($host_ip <-> $ns_ip)"
  ip netns add "$name"
  ip link add "$host_if" type veth peer name "$ns_if"
  ip link set "$ns_if" netns "$name"
  ip addr add "$host_ip/30" dev "$host_if"
  ip link set "$host_if" up
  in_ns ip link set lo up
  in_ns ip addr add "$ns_ip/30" dev "$ns_if"
  in_ns ip link set "$ns_if" up
  in_ns ip route add default via "$host_ip"
  # The manager advertises 127.0.0.1: send its Swarm ports to the host.
  in_ns sysctl -qw net.ipv4.conf.all.route_localnet=1
  local proto port
  for proto_port in tcp:2377 tcp:7946 udp:7946 udp:4789; do
    proto=${proto_port%%:*} port=${proto_port#*:}
    in_ns iptables -t nat -A OUTPUT -d 127.0.0.1 -p "$proto" --dport "$port" -j DNAT --to-destination "$host_ip:$port"
  done
  in_ns iptables -t nat -A POSTROUTING -s 127.0.0.1 -o "$ns_if" -j SNAT --to-source "$ns_ip"
  echo "$ns_ip" >"$state/address"

  start_daemon
  if [ "$#" -gt 0 ]; then
    log "loading images into $name: $*"
    docker save "$@" | ndocker load >/dev/null
  fi
  local token
  token=$(docker swarm join-token -q worker)
  log "joining the Swarm"
  # Drained from the first moment: no other service's task lands on it.
  ndocker swarm join --token "$token" --availability drain \
    --advertise-addr "$ns_ip" --listen-addr "$ns_ip:2377" "$host_ip:2377" >/dev/null
  local id
  id=$(ndocker info --format '{{.Swarm.NodeID}}')
  echo "$id" >"$state/node-id"
  # Held out of every other service's way: drained and labelled (plus any
  # labels in SECOND_NODE_LABELS, "k=v k2=v2").
  local args=(--availability drain --label-add "paas.test.node=$name") l
  for l in ${SECOND_NODE_LABELS:-}; do args+=(--label-add "$l"); done
  # Node loops may write the node at the same time: retry "update out of
  # sequence".
  local try
  for try in $(seq 1 20); do
    if docker node update "${args[@]}" "$id" >/dev/null 2>"$state/update.err"; then break; fi
    grep -q "out of sequence" "$state/update.err" || { cat "$state/update.err" >&2; die "labelling node $id failed"; }
    [ "$try" -lt 20 ] || die "labelling node $id: update out of sequence 20 times"
    sleep 0.1
  done
  echo "$id"
}

down() {
  stop_daemon
  local id
  id=$(cat "$state/node-id" 2>/dev/null || true)
  if [ -n "$id" ] && docker node inspect "$id" >/dev/null 2>&1; then
    log "removing node $id from the Swarm"
    docker node rm --force "$id" >/dev/null || true
  fi
  if [ -e "$netns" ]; then
    ip netns del "$name" || true
  fi
  ip link del "$host_if" 2>/dev/null || true
  # Mounts a killed dockerd may have left under its roots.
  local m
  awk -v a="$state/" -v b="$execroot/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$state" "$execroot"
  log "$name is gone"
}

case "$cmd" in
  up) shift 2; up "$@" ;;
  stop) stop_daemon ;;
  start) start_daemon ;;
  down) down ;;
  *) die "unknown command $cmd (up|stop|start|down)" ;;
esac
