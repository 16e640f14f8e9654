#!/usr/bin/env bash
# `make run`: brings up Postgres and Docker/Swarm on this machine, migrates,
# seeds a development admin (credentials printed once, when created) and runs
# `paasd serve` in the foreground.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash hack/docker-up.sh
# The sample workload the README walkthrough deploys (no registry needed).
bash hack/build-testapp.sh
DATABASE_URL=$(bash hack/postgres-up.sh)
export DATABASE_URL

# Development secrets are generated once and kept, so data sealed by one run
# opens in the next.
mkdir -p .data
if [ ! -f .data/dev.env ]; then
  umask 077
  {
    echo "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "ENCRYPTION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } > .data/dev.env
fi
set -a
# shellcheck source=/dev/null
. .data/dev.env
set +a

bin=${PAASD_BIN:-bin/paasd}
[ -x "$bin" ] || go build -o "$bin" ./cmd/paasd
"$bin" migrate

admin_email=${ADMIN_EMAIL:-admin@paas.local}
if [ ! -f .data/dev-admin ]; then
  admin_password=${ADMIN_PASSWORD:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  out=$("$bin" seed-admin --email "$admin_email" --password "$admin_password")
  echo "$out"
  (umask 077; echo "$admin_email" > .data/dev-admin)
  case "$out" in
    *created*)
      printf '\n  Development admin (shown once): %s / %s\n' "$admin_email" "$admin_password" ;;
  esac
fi

listen=${PAAS_LISTEN:-:8080}
port=${listen##*:}
printf '\n  SkyPanel PaaS is starting on http://127.0.0.1:%s\n  Health: curl http://127.0.0.1:%s/readyz\n  Stop with Ctrl-C.\n\n' "$port" "$port"
exec "$bin" serve
