#!/usr/bin/env bash
# `make test`: starts what the tests need (Docker + Swarm, Postgres, the test
# images), then runs every test with the race detector. Integration tests
# fail, never skip, when their dependencies are missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash hack/docker-up.sh
bash hack/build-testapp.sh
DATABASE_URL=$(bash hack/postgres-up.sh)
export DATABASE_URL

pkgs=${1:-./...}
shift || true
exec go test -race -count=1 -timeout "${TEST_TIMEOUT:-20m}" "$pkgs" "$@"
