#!/usr/bin/env bash
# Load-tests GET /api/paas/apps: an in-process API server (api/internal/benchserver)
# on a fresh database seeded with one organization of $APPS apps (default 50),
# driven by wrk on this machine with a login token, the way `paasctl get apps`
# calls it. The target is >= 5000 req/s with p99 < 20 ms.
#
# Each configuration is measured twice, after a short warm-up:
#   saturated  wrk as fast as it can ($CONNS connections, default 32): the most
#              the server does while sharing the CPUs with wrk;
#   paced      the same connections each pausing between requests so that
#              together they ask for about $RATE req/s (default 5000): the
#              latency a client sees at that load, not wrk's own queueing.
# Then the same is measured with what a server without the in-memory caches
# would do (every request authenticates and renders from Postgres:
# -no-list-cache -no-follow), and the ratio of the two is printed.
#
#   hack/bench-api.sh                     # Postgres is started by hack/postgres-up.sh
#   DURATION=30s CONNS=64 hack/bench-api.sh
#   TOKEN_KIND=api hack/bench-api.sh      # authenticate with a personal API token instead
#   LIST_CACHE=off hack/bench-api.sh      # render every answer from the database
#   FOLLOW=off hack/bench-api.sh          # no change notifications: confirm every cached answer in Postgres
#   GZIP=off hack/bench-api.sh            # do not send Accept-Encoding: gzip (paasctl's Go client does)
#   BASELINE=off hack/bench-api.sh        # skip the uncached comparison
#   CHURN=10 hack/bench-api.sh            # 10 status writes a second to the apps meanwhile (cache churn)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
RATE=${RATE:-5000}
APPS=${APPS:-50}
PORT=${PORT:-18080}
TOKEN_KIND=${TOKEN_KIND:-jwt}
LIST_CACHE=${LIST_CACHE:-on}
GZIP=${GZIP:-on}
FOLLOW=${FOLLOW:-on}
BASELINE=${BASELINE:-on}
CHURN=${CHURN:-0}

log() { printf 'bench-api: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    log "wrk not found: install it (Debian: apt-get install wrk)"; exit 1
  fi
fi

DATABASE_URL=${DATABASE_URL:-$(bash hack/postgres-up.sh)}
export DATABASE_URL

tmp=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=
}
trap 'stop_server; rm -rf "$tmp"' EXIT

go build -o "$tmp/benchserver" ./api/internal/benchserver

# wrk waits this many milliseconds (an integer) before each request of a
# connection, so that $CONNS connections ask for a little more than $RATE req/s.
pause=$(( CONNS * 1000 / RATE - 1 ))
[ "$pause" -ge 0 ] || pause=0
cat >"$tmp/pace.lua" <<EOF
function delay() return $pause end
EOF

# measure NAME FLAGS...: starts a server with FLAGS, runs the warm-up, the
# saturated and the paced load, prints a RESULT line for each and leaves the
# saturated req/s in $tmp/NAME.rps.
measure() {
  local name=$1; shift
  "$tmp/benchserver" -listen "127.0.0.1:$PORT" -apps "$APPS" -churn "$CHURN" "$@" >"$tmp/out" 2>"$tmp/err" &
  server_pid=$!
  for _ in $(seq 1 600); do
    grep -q '^READY ' "$tmp/out" 2>/dev/null && break
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$tmp/err" >&2; log "server died"; exit 1; fi
    sleep 0.1
  done
  grep -q '^READY ' "$tmp/out" || { cat "$tmp/err" >&2; log "server not ready"; exit 1; }
  local token url
  token=$(sed -n 's/^TOKEN=//p' "$tmp/out")
  url=$(sed -n 's/^READY //p' "$tmp/out")
  if [ "$TOKEN_KIND" = api ]; then
    token=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"name":"bench"}' "$url/api/auth/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  fi
  local hdrs=(-H "Authorization: Bearer $token")
  [ "$GZIP" = on ] && hdrs+=(-H "Accept-Encoding: gzip")
  local bytes
  bytes=$(curl -fsS "${hdrs[@]}" "$url/api/paas/apps" | wc -c)
  log "$name ($*): GET $url/api/paas/apps, $APPS apps, $bytes bytes per answer"

  wrk -t"$THREADS" -c"$CONNS" -d3s "${hdrs[@]}" "$url/api/paas/apps" >/dev/null
  local load
  for load in saturated paced; do
    local extra=()
    [ "$load" = paced ] && extra=(-s "$tmp/pace.lua")
    log "$name, $load: wrk -t$THREADS -c$CONNS -d$DURATION ${extra[*]}"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${extra[@]}" "${hdrs[@]}" "$url/api/paas/apps" >"$tmp/wrk"
    sed -n '/Latency Distribution/,/Requests\/sec/p' "$tmp/wrk" >&2
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk")
    p50=$(awk '/^ +50%/ {print $2}' "$tmp/wrk")
    p99=$(awk '/^ +99%/ {print $2}' "$tmp/wrk")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$tmp/wrk")
    echo "RESULT server=$name load=$load apps=$APPS conns=$CONNS duration=$DURATION auth=$TOKEN_KIND gzip=$GZIP churn=$CHURN/s req/s=$rps p50=$p50 p99=$p99 non-2xx=${errors:-0} cpus=$(nproc)"
    [ "$load" = saturated ] && echo "$rps" >"$tmp/$name.rps"
  done
  stop_server
}

flags=()
[ "$LIST_CACHE" = off ] && flags+=(-no-list-cache)
[ "$FOLLOW" = off ] && flags+=(-no-follow)
measure paasd "${flags[@]}"
if [ "$BASELINE" = on ]; then
  measure uncached -no-list-cache -no-follow
  awk -v a="$(cat "$tmp/paasd.rps")" -v b="$(cat "$tmp/uncached.rps")" \
    'BEGIN { printf "RESULT saturated req/s paasd/uncached = %.1f\n", a / b }'
fi
