# gatemesh. The README's two commands are `make demo` and `make test`; both
# install what they need: the control-plane binaries are built from the Go
# module proxy into bin/k8s/<version>/ once (hack/envtest.mk), then reused.

# Go 1.27.3 clears the standard-library vulnerabilities govulncheck finds
# reachable in 1.26.8 (make vuln). The go command fetches it from the module
# proxy the first time; go.mod says go 1.27.3, so an older Go stops with a
# clear message instead of building something else.
export GOTOOLCHAIN := go1.27.3
GO ?= go
BIN := $(CURDIR)/bin

include hack/envtest.mk
include hack/mesh.mk
include hack/helm.mk

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/webhook
	$(GO) build -o $(BIN)/webhook ./cmd/webhook

IMAGE ?= ghcr.io/gatemesh/gatemesh:dev
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
.PHONY: image
image: ## build the container image without a runtime: bin/image/oci (OCI layout) and bin/image/gatemesh.tar (docker archive); prints its digest
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -buildvcs=auto -ldflags='-s -w$(if $(RELEASE_VERSION), -X main.releaseVersion=$(RELEASE_VERSION))' -o $(BIN)/linux-$(IMAGE_ARCH)/webhook ./cmd/webhook
	cd hack/tools/image && GOWORK=off $(GO) run . -binary $(BIN)/linux-$(IMAGE_ARCH)/webhook -out $(BIN)/image -tag $(IMAGE) -arch $(IMAGE_ARCH)

.PHONY: image-verify
image-verify: ## build the image twice: the same digest both times, user 65532:65532, and its /webhook, extracted, runs version
	@a=$$($(MAKE) -s image | tail -1); b=$$($(MAKE) -s image | tail -1); \
	if [ "$$a" != "$$b" ]; then echo "image: not reproducible: $$a then $$b"; exit 1; fi; echo "image: reproducible, $$a"
	@cd hack/tools/image && GOWORK=off $(GO) run . -check $(BIN)/image/oci

# A release: VERSION defaults to v<appVersion> of the chart, the one place
# the version is written down (the chart's image tag is v<appVersion> too).
VERSION ?= v$(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/gatemesh/Chart.yaml)
RELEASE_DIR = $(BIN)/release/$(VERSION)
RELEASE_ARCHES ?= amd64 arm64
.PHONY: release
release: $(HELM) ## bin/release/<VERSION>/: the multi-arch image (OCI archive, and a docker archive per architecture), the Helm chart package, install-<overlay>.yaml per overlay pinned to the image's digest, SHA256SUMS
	@case '$(VERSION)' in v[0-9]*) ;; *) echo "release: VERSION '$(VERSION)' is not a version such as v0.1.0"; exit 1;; esac
	rm -rf '$(RELEASE_DIR)' && mkdir -p '$(RELEASE_DIR)/.oci'
	@set -e; for arch in $(RELEASE_ARCHES); do \
		digest=$$($(MAKE) -s image IMAGE=ghcr.io/gatemesh/gatemesh:$(VERSION) IMAGE_ARCH=$$arch RELEASE_VERSION=$(VERSION) | tail -1); \
		cp $(BIN)/image/gatemesh.tar '$(RELEASE_DIR)'/gatemesh-$(VERSION)-linux-$$arch.docker.tar; \
		cp -r $(BIN)/image/oci '$(RELEASE_DIR)'/.oci/$$arch; \
		echo "release: image linux/$$arch $$digest"; \
	done
	@set -e; layouts=$$(for arch in $(RELEASE_ARCHES); do printf '%s,' '$(RELEASE_DIR)'/.oci/$$arch; done); \
	index=$$(cd hack/tools/image && GOWORK=off $(GO) run . -index-of "$${layouts%,}" -tag ghcr.io/gatemesh/gatemesh:$(VERSION) -out '$(RELEASE_DIR)'/.oci/index | tail -1); \
	tar -C '$(RELEASE_DIR)'/.oci/index --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf '$(RELEASE_DIR)'/gatemesh-$(VERSION).oci.tar .; \
	echo "release: image index $$index ($(RELEASE_ARCHES))"; \
	$(GO) run ./hack/release -version $(VERSION) -digest "$$index" -out '$(RELEASE_DIR)'
	rm -rf '$(RELEASE_DIR)/.oci'
	$(HELM) package charts/gatemesh --version $(patsubst v%,%,$(VERSION)) --app-version $(patsubst v%,%,$(VERSION)) -d '$(RELEASE_DIR)'
	cd '$(RELEASE_DIR)' && sha256sum $$(ls | grep -v SHA256SUMS) > SHA256SUMS && cat SHA256SUMS

# The vulnerability database is the golang.org/x/vulndb module at this version,
# fetched through the module proxy (checksum-verified like any module): its
# data/osv holds one OSV file per vulnerability, which govulncheck reads as a
# local database. Nothing is fetched from vuln.go.dev.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
.PHONY: vuln
vuln: ## govulncheck ./... offline, against the Go vulnerability database from the golang.org/x/vulndb module; fails on any reachable finding
	cd hack/tools/vuln && GOWORK=off $(GO) build -o $(BIN)/govulncheck golang.org/x/vuln/cmd/govulncheck
	@db=$$(cd hack/tools/vuln && GOWORK=off GOFLAGS=-mod=mod $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -d "$$db/data/osv" || { echo "vuln: no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION) ($$db)"; exit 1; }; \
	echo "vuln: $$(ls "$$db/data/osv" | wc -l) vulnerabilities in golang.org/x/vulndb@$(VULNDB_VERSION), $$($(GO) env GOVERSION)"; \
	$(BIN)/govulncheck -db "file://$$db/data/osv" ./...

.PHONY: test
test: envtest-assets mesh-assets vuln image-verify chart-lint ## run every test: govulncheck, the image check, helm lint, unit, golden, fuzz seeds, the envtest end-to-end suite and the real-mesh suite
	$(GO) vet ./...
	KUBEBUILDER_ASSETS='$(KUBEBUILDER_ASSETS)' HELM='$(HELM)' $(MESH_TEST_ENV) $(GO) test -count=1 ./...

.PHONY: demo
demo: envtest-assets ## start a local control plane with gatemesh, apply examples/ and say what gatemesh did (ARGS=--keep keeps it running)
	KUBEBUILDER_ASSETS='$(KUBEBUILDER_ASSETS)' $(GO) run ./test/demo $(ARGS)

.PHONY: golden
golden: ## rewrite the golden files from the current output (review the diff!)
	$(GO) test ./pkg/mutate ./pkg/policy -run Golden -update

FUZZTIME ?= 60s
.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 60s)
	$(GO) test ./pkg/mutate -run '^$$' -fuzz '^FuzzPodPatch$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./pkg/mutate -run '^$$' -fuzz '^FuzzPodHead$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./pkg/admit -run '^$$' -fuzz '^FuzzPodHandler$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./pkg/mutate -run '^$$' -fuzz '^FuzzUpstream$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./pkg/mutate -run '^$$' -fuzz '^FuzzBackend$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./pkg/mutate -run '^$$' -fuzz '^FuzzBootstrapPatch$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

BENCHCOUNT ?= 5
BENCHROUNDS ?= 7
.PHONY: bench
bench: ## the Go benchmarks (-benchmem, BENCHCOUNT runs each), then the pod handler against its floor in BENCHROUNDS interleaved rounds
	$(GO) test -p 1 ./pkg/... -run '^$$' -bench . -benchmem -count $(BENCHCOUNT)
	hack/bench-ratios.sh $(BENCHROUNDS)

LOADTIME ?= 10s
.PHONY: loadtest
loadtest: ## drive the real TLS server on 127.0.0.1: 64 clients flat out, then 1,000 reviews/s (LOADTIME each)
	$(GO) build -o $(BIN)/load ./test/load
	$(BIN)/load -clients 64 -duration $(LOADTIME)
	$(BIN)/load -clients 64 -rate 1000 -duration $(LOADTIME)

.PHONY: reconcile-scale
reconcile-scale: envtest-assets ## the reconciler on envtest: 10,000 Upstreams across 100 namespaces, one namespace flipped, then all (docs/performance.md)
	KUBEBUILDER_ASSETS='$(KUBEBUILDER_ASSETS)' $(GO) test -count=1 -v -timeout 20m ./test/scale \
		-upstreams 10000 -namespaces 100 -qps 100 -burst 200 -flip-one-max 5s -flip-all-max 2m -max-heap-mib 200

.PHONY: attack
attack: envtest-assets ## the attacks of issue 10 on 127.0.0.1 against the built webhook: header flood, 3 MB Upstream, 1,000-namespace lookups, SIGTERM under load
	KUBEBUILDER_ASSETS='$(KUBEBUILDER_ASSETS)' $(GO) test -count=1 -v -timeout 15m ./test/attack
