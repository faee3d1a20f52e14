# medic's build and test entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
GO ?= go
# Tools are installed once per machine into a cache outside the repository.
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/medic-tools
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
GREMLINS_VERSION := v0.6.0
GREMLINS := $(TOOLS_DIR)/gremlins-$(GREMLINS_VERSION)/gremlins

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: test tools lint fmt-check vet staticcheck unit build demo bench bench-peers terraform-tool tofu-tool test-tofu mutation

## test: everything CI checks: formatting, vet, staticcheck, the race-enabled tests and the
## Helm chart's (chart-test).
test: tools fmt-check vet staticcheck unit chart-test

tools: $(STATICCHECK) terraform-tool

## terraform-tool: Terraform v1.5.7 in $(TOOLS_DIR) unless a terraform >= 1.4 is on PATH (cached).
terraform-tool:
	TOOLS_DIR=$(TOOLS_DIR) GO=$(GO) bash scripts/tools.sh

## tofu-tool: OpenTofu v1.12.6 built from source into $(TOOLS_DIR) unless an OpenTofu >= 1.6
## is on PATH (cached). Not part of `make tools`: its cold build is too long for CI (README).
tofu-tool:
	TOOLS_DIR=$(TOOLS_DIR) GO=$(GO) bash scripts/tofu.sh

## test-tofu: the OpenTofu runs (the `tofu` subtests) of the tests that run Terraform, with
## MEDIC_REQUIRE_TOFU=1 (a missing OpenTofu fails them). `make test` runs them too when an
## OpenTofu is on PATH or cached, and skips them otherwise, also under CI.
TOFU_TESTS := TestRollbackLockAndForceUnlock|TestApplyCancelled|TestTerraformCannotReachMedicsSecrets|TestProvidersNeverComeFromTheSources|TestRepositoryFilesValidate|TestRealTerraform|TestTerraformS3Backend|TestRollbackOnS3BackendActsAsTheEnvironmentsRole|TestForceUnlockThenApply|TestStalePlanIsNeverApplied
## A -run pattern that matches nothing passes: each test listed must report its tofu
## subtest passed, or the target fails naming the ones missing.
test-tofu: tofu-tool
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	MEDIC_REQUIRE_TOFU=1 $(GO) test -race -count=1 -timeout 20m -v -run '^($(TOFU_TESTS))$$/^tofu$$' \
		./deploy/terraform/ ./sandbox/ ./sandbox/tfstate/ ./sandbox/awsfake/ ./cmd/medic/ >"$$log" 2>&1 || { grep -E -- '^(--- FAIL|FAIL|ok|panic)' "$$log"; exit 1; }; \
	grep -E '^ok|^FAIL' "$$log"; missing=; \
	for t in $$(tr '|' ' ' <<<'$(TOFU_TESTS)'); do grep -qE -- "--- PASS: $$t/tofu " "$$log" || missing="$$missing $$t"; done; \
	if [[ -n $$missing ]]; then echo "test-tofu: no passing tofu subtest in:$$missing" >&2; exit 1; fi

$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GREMLINS):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)

## mutation: mutation testing (gremlins) of the packages holding medic's rules; prints each
## package's mutant coverage and efficacy and fails when ./recovery is below its goal
## (80 % and 85 %). MUTATION_PKGS picks packages. Not part of `make test`: see the README.
MUTATION_PKGS ?= ./recovery ./bot ./handlers ./config
mutation: $(GREMLINS)
	GO=$(GO) GREMLINS=$(GREMLINS) bash scripts/mutation.sh $(MUTATION_PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

## unit: the race-enabled tests; the store's run on SQLite and on a throwaway PostgreSQL
## started by scripts/pg.sh and always stopped after (or on the server at
## MEDIC_TEST_POSTGRES_URL when set); the fault drills' figures are printed at the end. Without PostgreSQL they are skipped, except
## under CI=true, where failing to start it fails.
unit:
	@set -uo pipefail; \
	if [[ -z $${MEDIC_TEST_POSTGRES_URL:-} ]]; then \
		if pg=$$(bash scripts/pg.sh start); then \
			eval "$$pg"; \
			trap 'bash scripts/pg.sh stop "$$MEDIC_PG_DIR"' EXIT; \
			trap 'exit 130' INT TERM; \
		elif [[ $${CI:-} =~ ^(1|t|T|true|True|TRUE)$$ ]]; then \
			echo "unit: could not start PostgreSQL (scripts/pg.sh start), and CI=true needs it" >&2; \
			exit 1; \
		else \
			echo "unit: WARNING: could not start PostgreSQL (scripts/pg.sh start): the store's PostgreSQL tests will be skipped" >&2; \
		fi; \
	fi; \
	export MEDIC_DRILL_REPORT=$$(mktemp); \
	echo "$(GO) test -race -count=1 -timeout 20m ./..."; \
	$(GO) test -race -count=1 -timeout 20m ./...; rc=$$?; \
	if [[ -s $$MEDIC_DRILL_REPORT ]]; then echo "fault drills:"; sed 's/^/  /' "$$MEDIC_DRILL_REPORT"; fi; \
	rm -f "$$MEDIC_DRILL_REPORT"; \
	exit $$rc

## chart-test: the Helm chart, charts/medic, in its own Go module (charts/medic/test), so
## medic's go.mod never pulls in Helm or Kubernetes: `helm lint --strict` and `helm template`
## run in-process through Helm's Go packages (no helm binary: its cold build takes minutes),
## every manifest is decoded strictly into the Kubernetes API types and checked, and the
## rendered medic.yaml passes `medic config check --no-env`. What it compiles stays in Go's
## build and module caches, as for every other test. Never skipped, under CI or not.
.PHONY: chart-test
chart-test:
	cd charts/medic/test && $(GO) vet ./... && $(GO) test -count=1 ./...

## build: a static binary in ./medic
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o medic ./cmd/medic

demo:
	$(GO) run ./cmd/medic demo

## bench: the benchmarks whose figures go in closing notes.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-peers: medic serve (against `medic sandbox`) and the peer bots of ../shared/bench
## through `slackdriver bench` in one run; prints the comparison table. Not part of test.
## N, C, ROUNDS, BENCH_DIR, KEEP=1: see scripts/bench-peers.sh.
bench-peers:
	GO=$(GO) scripts/bench-peers.sh
