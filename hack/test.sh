#!/usr/bin/env bash
# `make test`: starts what the tests need (Docker + Swarm, Postgres, the test
# images, promtool), then runs every test with the race detector. Integration tests
# fail, never skip, when their dependencies are missing.
#
# Tests named TestDisruptive* stop shared infrastructure (the Docker engine),
# so they run alone, before everything else.
#
#   hack/test.sh                     # everything
#   hack/test.sh ./store/ -run TestX # one package, extra go test flags
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash hack/docker-up.sh
bash hack/build-testapp.sh
bash hack/promtool-up.sh
bash hack/registry-up.sh
DATABASE_URL=$(bash hack/postgres-up.sh)
export DATABASE_URL

timeout=${TEST_TIMEOUT:-20m}
if [ $# -gt 0 ]; then
  pkgs=$1; shift
  exec go test -race -count=1 -timeout "$timeout" "$pkgs" "$@"
fi

echo "--- disruptive tests (run alone)"
go test -race -count=1 -timeout "$timeout" -run '^TestDisruptive' ./cmd/paasd/
echo "--- all other tests"
go test -race -count=1 -timeout "$timeout" -skip '^TestDisruptive' ./...
