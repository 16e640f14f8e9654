# SkyPanel PaaS. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
SQLC    := go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
# Redocly's OpenAPI linter, pinned: a new release may bring new rules.
# 2.77.0 runs on Node.js 20.19+ or 22.12+.
REDOCLY := npx --yes @redocly/cli@2.77.0
# Run one package or test: make test PKG=./store/ RUN=TestStale (default: everything)
PKG     ?=
RUN     ?=
TEST_TIMEOUT ?= 20m

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Regenerate code (sqlc) from schema/ and store/queries/
	$(SQLC) generate
	go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config api/openapi/server.cfg.yaml api/openapi/openapi.yaml
	go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config api/client/client.cfg.yaml api/openapi/openapi.yaml

.PHONY: build
build: ## Build bin/paasd and bin/paasctl
	go build -ldflags '$(LDFLAGS)' -o bin/paasd ./cmd/paasd
	go build -ldflags '$(LDFLAGS)' -o bin/paasctl ./cmd/paasctl

.PHONY: run
run: build ## Bring up Postgres, Docker/Swarm and paasd on this machine
	PAASD_BIN=bin/paasd bash hack/run-dev.sh

.PHONY: test
test: ## Unit and integration tests against real Postgres and Swarm (started if needed)
	bash hack/test.sh $(if $(PKG),$(PKG),$(if $(RUN),./...)) $(if $(RUN),-run '$(RUN)')

.PHONY: bench
bench: ## Benchmarks (go test -bench and hack/bench)
	bash hack/bench

.PHONY: lint
lint: ## gofmt, go vet, and api/ free of client-go (check-generated and lint-openapi check the rest)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	@deps=$$(go list -deps ./api/... | grep '^k8s.io/' || true); if [ -n "$$deps" ]; then echo "api/ must not depend on k8s.io (the work queue belongs to controllers/):"; echo "$$deps"; exit 1; fi

.PHONY: lint-openapi
lint-openapi: ## Lint the OpenAPI contract with Redocly's recommended rules (needs Node.js and npx)
	@command -v npx >/dev/null || { echo "lint-openapi needs Node.js 20.19+ (or 22.12+) with npx"; exit 1; }
	$(REDOCLY) lint --config api/openapi/redocly.yaml api/openapi/openapi.yaml

.PHONY: check-generated
check-generated: generate ## Fail when generated code differs from what is committed
	@git diff --exit-code -- store/ api/ || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- store/ api/ | grep '^??')" || { echo "untracked generated files: run make generate and commit"; exit 1; }

.PHONY: clean
clean: ## Remove build output (not the dev database)
	rm -rf bin
