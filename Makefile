# Makefile for tenantapi.
#
# `sam build` (BuildMethod: makefile in template.yaml) runs
# `make build-ApiFunction` and `make build-OpsFunction` in the CodeUri (this
# folder) with ARTIFACTS_DIR set; each target must leave an executable named
# `bootstrap` there. Both functions run the same binary.

# TENANT_MIGRATIONS_DIR: the folder of your application set (SPEC §10), to
# ship inside the Lambda package. Empty (the default): the built-in items,
# and the package holds bootstrap alone. Set: its <version>_<name>.sql files
# are copied to $(ARTIFACTS_DIR)/migrations next to bootstrap, and you deploy
# with TenantMigrations=migrations so that both functions read it. Set it
# here or in the environment (TENANT_MIGRATIONS_DIR=examples/projects sam
# build); a relative path is taken from this Makefile's folder.
TENANT_MIGRATIONS_DIR ?=

GO ?= go
PKG := ./cmd/tenantapi
BIN := bin

# Flags of the Lambda build: a static linux/arm64 binary without the legacy
# net/rpc Lambda transport (lambda.norpc), no local paths, no symbol tables.
LAMBDA_ENV := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"

# The folder of this Makefile: sam build runs make in a scratch copy of the
# project with --makefile naming this file, so paths are taken from here.
HERE := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

.PHONY: build build-ApiFunction build-OpsFunction lambda-package lambda-migrations \
	bootstrap-arm64 bootstrap-amd64 check-artifacts-dir dev postgresql tools test lint fuzz clean bench bench-quick soak

## build: the tenantapi binary for this machine, in ./bin/tenantapi.
build:
	$(GO) build -trimpath -o $(BIN)/tenantapi $(PKG)

## build-ApiFunction, build-OpsFunction: called by `sam build`; both leave
## the same package: bootstrap, and migrations/ when TENANT_MIGRATIONS_DIR is
## set (the API serves that set, Ops migrates to it).
build-ApiFunction: lambda-package
build-OpsFunction: lambda-package

lambda-package: lambda-migrations
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap $(PKG)

## lambda-migrations: only the application set of the package, checked
## (scripts/package-migrations.sh); a stale migrations/ is removed.
lambda-migrations: check-artifacts-dir
	@"$(HERE)/scripts/package-migrations.sh" "$(HERE)" "$(TENANT_MIGRATIONS_DIR)" "$(ARTIFACTS_DIR)/migrations"

check-artifacts-dir:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it; or run: make build-ApiFunction ARTIFACTS_DIR=/some/dir)" >&2; exit 2; }

## bootstrap-arm64, bootstrap-amd64: Lambda bootstraps for a hand-made zip
## (cd bin/linux-arm64 && zip ../tenantapi-arm64.zip bootstrap).
bootstrap-arm64:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(BIN)/linux-arm64/bootstrap $(PKG)

bootstrap-amd64:
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(BIN)/linux-amd64/bootstrap $(PKG)

## dev: build tenantapi and run it locally on its own PostgreSQL, with a demo
## tenant, a fresh demo key and an admin token (Ctrl-C stops both).
## TENANT_MIGRATIONS_DIR=DIR serves your own application set (make dev
## TENANT_MIGRATIONS_DIR=examples/projects); unset, the built-in items.
dev: postgresql
	$(GO) build -trimpath -o $(BIN)/tenantapi $(PKG)
	$(BIN)/tenantapi dev $(if $(TENANT_MIGRATIONS_DIR),--migrations $(TENANT_MIGRATIONS_DIR))

## postgresql: what the service itself needs on this machine, and so make
## dev and the benchmarks: PostgreSQL server binaries (Debian's postgresql
## package when missing).
postgresql:
	@scripts/ensure-postgres.sh

## tools: what the tests need on this machine: PostgreSQL server binaries,
## PgBouncer, Chromium for the /docs browser test and Node.js with npm for
## the TypeScript client's tests (Debian's postgresql, pgbouncer, chromium,
## nodejs and npm packages when missing).
tools: postgresql
	@scripts/ensure-pgbouncer.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-node.sh

## test: the whole suite, race detector on, against a PostgreSQL the tests
## start themselves; lint first.
test: tools lint
	$(GO) test -race -count=1 -timeout 20m ./...

## lint: gofmt, go vet and staticcheck (pinned as a tool in go.mod).
lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt needed:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## fuzz: every fuzz test for FUZZTIME each (default 1m), one after another;
## new failing inputs land in the package's testdata/fuzz, to commit with
## the fix. The seed corpora run in `make test` already.
FUZZTIME ?= 1m
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "$$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME); \
		done; \
	done

## bench: the benchmark of BENCHMARKS.md (about 45 minutes; run it on an idle
## machine): tenantapi against the Flask seed design, a bare Go handler and
## the database ceiling, the design questions, a resource of examples/projects
## against items, the start-up at 10 and 10,000 tenants and the fleet
## operations, on a PostgreSQL of its own. Results: bench/results/<time>/results.{md,json}.
## Extra flags: make bench ARGS='--quick' (or --sections, --duration, …).
bench: postgresql
	$(GO) run ./bench/run $(ARGS)

## bench-quick: the benchmark's smoke run (under a minute; CI runs it through
## bench/smoke.sh): few tenants, 2 s per scenario, no speed assertions.
bench-quick: postgresql
	$(GO) run ./bench/run --quick $(ARGS)

## soak: DURATION (default 5m) of steady mixed load across 1,000 tenants
## against `tenantapi serve` on a PostgreSQL of its own, sampling the
## server's RSS and goroutines; prints the curve and a verdict (no errors,
## both flat after warm-up). Extra flags: make soak ARGS='-rate 500'.
DURATION ?= 5m
soak: postgresql build
	$(GO) run ./bench/soak -bin $(BIN)/tenantapi -duration $(DURATION) $(ARGS)

clean:
	rm -rf $(BIN)
