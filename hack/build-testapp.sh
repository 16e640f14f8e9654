#!/usr/bin/env bash
# Builds the integration-test workload images from hack/testapp:
#
#   paas-testapp:v1     version v1
#   paas-testapp:v2     version v2
#   paas-testapp:crash  version crash, exits 1 at start (crashByDefault=true)
#
# Each image is FROM scratch around a static binary built on the host, so no
# registry is needed. An image carries the label paas.testapp.source=<hash of
# the sources, Go version and variant>; when the existing image already has
# that label the build is skipped, so running this again is quick.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'build-testapp: %s\n' "$*"; }

# Debian's docker.io ships without buildx; use the classic builder there.
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

label=paas.testapp.source
repo=paas-testapp

# Hash of everything that ends up in an image: non-test sources, Dockerfile,
# this script and the Go toolchain version.
sources_hash() {
  {
    find hack/testapp -type f ! -name '*_test.go' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum hack/build-testapp.sh
    go version
  } | sha256sum | cut -d' ' -f1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

base=$(sources_hash)

# build_variant TAG VERSION CRASH_BY_DEFAULT
build_variant() {
  local tag=$1 version=$2 crash=$3
  local image="$repo:$tag"
  local want
  want=$(printf '%s %s %s %s\n' "$base" "$tag" "$version" "$crash" | sha256sum | cut -d' ' -f1)
  local have
  have=$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    log "$image up to date"
    return
  fi

  local dir="$tmp/$tag"
  mkdir -p "$dir"
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=$version -X main.crashByDefault=$crash" \
    -o "$dir/testapp" ./hack/testapp
  cp hack/testapp/Dockerfile "$dir/Dockerfile"
  # Quiet on success (the classic builder warns about its deprecation);
  # show everything on failure.
  local out
  if ! out=$(docker build -t "$image" --label "$label=$want" "$dir" 2>&1); then
    printf '%s\n' "$out" >&2
    log "$image: docker build failed"
    exit 1
  fi
  log "$image built"
}

build_variant v1 v1 false
build_variant v2 v2 false
build_variant crash crash true
