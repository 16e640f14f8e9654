#!/usr/bin/env bash
# Starts a project-local PostgreSQL from the installed server binaries unless
# DATABASE_URL already answers, and prints the URL to use on stdout.
#
# Data lives under .data/postgres (git-ignored; under /var/lib/skypanel-dev
# when run as root from a checkout the server's user cannot reach, such as
# one in /root), the server listens on
# 127.0.0.1:${PAAS_PG_PORT:-55432} and keeps its socket in the data folder, so
# it never collides with a system PostgreSQL. Idempotent. It is a development
# and test database: fsync is off for speed, which survives a crash of
# PostgreSQL itself but not of the machine; production points DATABASE_URL
# at a real server.
set -euo pipefail

log() { printf 'postgres-up: %s\n' "$*" >&2; }

root=$(cd "$(dirname "$0")/.." && pwd)
port=${PAAS_PG_PORT:-55432}
datadir=${PAAS_PG_DATA:-$root/.data/postgres}
dbname=${PAAS_PG_DB:-paas}
url="postgres://paas@127.0.0.1:$port/$dbname?sslmode=disable"

if [ -n "${DATABASE_URL:-}" ] && command -v pg_isready >/dev/null && psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
  log "DATABASE_URL already answers; leaving it alone"
  printf '%s\n' "$DATABASE_URL"
  exit 0
fi

find_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/$name" ] && { echo "$dir/$name"; return; }
  done
  log "$name not found: install the PostgreSQL 15+ server (Debian: apt-get install postgresql)"
  exit 1
}
initdb=$(find_bin initdb)
pg_ctl=$(find_bin pg_ctl)

# PostgreSQL refuses to run as root: run it as a dedicated user when we are root.
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  id paas-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin paas-pg
  as_pg() { (cd / && runuser -u paas-pg -- "$@"); }
fi

# paas-pg must reach the data folder through every parent. A checkout in a
# folder it cannot traverse (root's home, mode 0700, is the usual one on a
# fresh host) keeps its cluster under /var/lib instead, one per checkout.
if [ "$(id -u)" = 0 ] && [ -z "${PAAS_PG_DATA:-}" ]; then
  mkdir -p "$root/.data"
  if ! runuser -u paas-pg -- test -x "$root/.data" 2>/dev/null; then
    datadir=/var/lib/skypanel-dev/postgres-$(printf '%s' "$root" | sha256sum | cut -c1-12)
    log "paas-pg cannot reach $root/.data; keeping this checkout's cluster in $datadir"
    mkdir -p /var/lib/skypanel-dev
  fi
fi

mkdir -p "$datadir"
if [ "$(id -u)" = 0 ]; then chown paas-pg "$datadir" && chmod 700 "$datadir"; fi

if [ ! -f "$datadir/PG_VERSION" ]; then
  log "initialising a cluster in $datadir"
  as_pg "$initdb" -D "$datadir" -U paas --auth=trust --encoding=UTF8 --no-locale >/dev/null
fi

if ! as_pg "$pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port is taken by another server (not the cluster in $datadir): stop it, or choose another port with PAAS_PG_PORT"
    exit 1
  fi
  log "starting PostgreSQL on 127.0.0.1:$port"
  as_pg "$pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 \
    -o "-p $port -k $datadir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
fi

if ! psql "postgres://paas@127.0.0.1:$port/postgres?sslmode=disable" -Atqc "select 1 from pg_database where datname='$dbname'" | grep -q 1; then
  psql "postgres://paas@127.0.0.1:$port/postgres?sslmode=disable" -qc "create database $dbname" >/dev/null
fi
log "ready"
printf '%s\n' "$url"
