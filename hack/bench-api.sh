#!/usr/bin/env bash
# Load-tests GET /api/paas/apps: an in-process API server (api/internal/benchserver)
# on a fresh database seeded with one organization of $APPS apps (default 50),
# driven by wrk for $DURATION (default 10s) with $CONNS connections (default 32)
# and a login token, the way `paasctl get apps` calls it. Prints requests per
# second and latency percentiles; the target is >= 5000 req/s with p99 < 20 ms.
#
#   hack/bench-api.sh                     # Postgres is started by hack/postgres-up.sh
#   DURATION=30s CONNS=64 hack/bench-api.sh
#   TOKEN_KIND=api hack/bench-api.sh      # authenticate with a personal API token instead
#   LIST_CACHE=off hack/bench-api.sh      # render every answer from the database
#   GZIP=off hack/bench-api.sh            # do not send Accept-Encoding: gzip (paasctl's Go client does)
#   MAX_STALE=100ms hack/bench-api.sh     # v1.Deps.ListCacheMaxStale: confirm cached pages at most every 100ms
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
APPS=${APPS:-50}
PORT=${PORT:-18080}
TOKEN_KIND=${TOKEN_KIND:-jwt}
LIST_CACHE=${LIST_CACHE:-on}
GZIP=${GZIP:-on}
MAX_STALE=${MAX_STALE:-0}

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
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/benchserver" ./api/internal/benchserver
flags=()
[ "$LIST_CACHE" = off ] && flags+=(-no-list-cache)
flags+=(-list-cache-max-stale "$MAX_STALE")
"$tmp/benchserver" -listen "127.0.0.1:$PORT" -apps "$APPS" "${flags[@]}" >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q '^READY ' "$tmp/out" 2>/dev/null && break
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$tmp/err" >&2; log "server died"; exit 1; fi
  sleep 0.1
done
grep -q '^READY ' "$tmp/out" || { cat "$tmp/err" >&2; log "server not ready"; exit 1; }
token=$(sed -n 's/^TOKEN=//p' "$tmp/out")
url=$(sed -n 's/^READY //p' "$tmp/out")

if [ "$TOKEN_KIND" = api ]; then
  token=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"bench"}' "$url/api/auth/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
fi

bytes=$(curl -fsS -H "Authorization: Bearer $token" "$url/api/paas/apps" | wc -c)
log "GET $url/api/paas/apps: $APPS apps, $bytes bytes per answer; wrk -t$THREADS -c$CONNS -d$DURATION"
hdrs=(-H "Authorization: Bearer $token")
[ "$GZIP" = on ] && hdrs+=(-H "Accept-Encoding: gzip")
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${hdrs[@]}" "$url/api/paas/apps" | tee "$tmp/wrk"

rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk")
p50=$(awk '/^ +50%/ {print $2}' "$tmp/wrk")
p99=$(awk '/^ +99%/ {print $2}' "$tmp/wrk")
errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$tmp/wrk")
echo
echo "RESULT apps=$APPS conns=$CONNS duration=$DURATION auth=$TOKEN_KIND list_cache=$LIST_CACHE gzip=$GZIP max_stale=$MAX_STALE req/s=$rps p50=$p50 p99=$p99 non-2xx=${errors:-0} cpus=$(nproc)"
