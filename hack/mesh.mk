# hack/mesh.mk - the real mesh components for test/mesh, built once and cached.
#
# Builds, from the Go module proxy or the read-only reference source beside the
# repository, into bin/mesh/<component>-<version>/:
#   istio-<pseudo-version>/pilot-discovery, pilot-agent   hack/tools/istio/go.mod
#   kgateway-sds-<version>/sds                             hack/tools/kgateway-sds/go.mod
#   gloo-sds-<version>/sds                                 ../shared/reference/gloo-sds
# Once a binary exists its target is up to date and costs nothing; a new
# version in a go.mod (or in the Gloo source) is a new folder, built once.
#
# Targets:
#   mesh-assets   build (if missing) the four binaries (cold ~18 min on 2 busy cores)
#   mesh-test     run the real-mesh suite alone (test/mesh); MESH_ARGS are
#                 passed to go test, e.g. to see kgateway v2.2.0's own sds
#                 push mismatched keys during rotations:
#                 make mesh-test MESH_ARGS='-run TestKgateway -args -mesh.kgateway-sds=kgateway -mesh.rotations=8'
#   mesh-assets-clean  remove bin/mesh
#
# Variables for the including Makefile:
#   MESH_TEST_ENV  the environment test/mesh reads (paths of the four binaries)

MESH_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
MESH_STANDALONE := $(if $(filter 1,$(words $(MAKEFILE_LIST))),yes)
MESH_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)
MESH_REPO_ROOT := $(patsubst %/,%,$(dir $(MESH_MK_DIR)))

MESH_ISTIO_TOOLS_DIR := $(MESH_MK_DIR)/tools/istio
MESH_KGATEWAY_TOOLS_DIR := $(MESH_MK_DIR)/tools/kgateway-sds
# Gloo's SDS server is not on the module proxy: build it from the reference
# source, which CI has read-only beside its clone.
MESH_GLOO_SDS_SRC ?= $(abspath $(MESH_REPO_ROOT)/../shared/reference/gloo-sds/gloo)

MESH_ISTIO_VERSION := $(shell awk '$$1 == "istio.io/istio" && $$2 ~ /^v/ { print $$2; exit }' '$(MESH_ISTIO_TOOLS_DIR)/go.mod' 2>/dev/null)
MESH_KGATEWAY_VERSION := $(shell awk '$$1 == "github.com/kgateway-dev/kgateway/v2" && $$2 ~ /^v/ { print $$2; exit }' '$(MESH_KGATEWAY_TOOLS_DIR)/go.mod' 2>/dev/null)
# "... at tag **v1.20.22**, ..." in the reference README.
MESH_GLOO_SDS_VERSION := $(shell sed -n 's/.*at tag \*\*v\([0-9][0-9.]*\)\*\*.*/\1/p' '$(MESH_GLOO_SDS_SRC)/../README.md' 2>/dev/null | head -n 1)
ifeq ($(MESH_ISTIO_VERSION),)
$(error mesh.mk: no istio.io/istio requirement in $(MESH_ISTIO_TOOLS_DIR)/go.mod)
endif
ifeq ($(MESH_KGATEWAY_VERSION),)
$(error mesh.mk: no github.com/kgateway-dev/kgateway/v2 requirement in $(MESH_KGATEWAY_TOOLS_DIR)/go.mod)
endif
ifeq ($(MESH_GLOO_SDS_VERSION),)
MESH_GLOO_SDS_VERSION := missing
endif

MESH_DIR := $(MESH_REPO_ROOT)/bin/mesh
MESH_PILOT_DISCOVERY := $(MESH_DIR)/istio-$(MESH_ISTIO_VERSION)/pilot-discovery
MESH_PILOT_AGENT := $(MESH_DIR)/istio-$(MESH_ISTIO_VERSION)/pilot-agent
MESH_KGATEWAY_SDS := $(MESH_DIR)/kgateway-sds-$(MESH_KGATEWAY_VERSION)/sds
MESH_GLOO_SDS := $(MESH_DIR)/gloo-sds-$(MESH_GLOO_SDS_VERSION)/sds
MESH_BINARIES := $(MESH_PILOT_DISCOVERY) $(MESH_PILOT_AGENT) $(MESH_KGATEWAY_SDS) $(MESH_GLOO_SDS)

# What test/mesh reads (see test/mesh/binaries_test.go).
MESH_TEST_ENV := MESH_PILOT_DISCOVERY='$(MESH_PILOT_DISCOVERY)' MESH_PILOT_AGENT='$(MESH_PILOT_AGENT)' \
	MESH_KGATEWAY_SDS='$(MESH_KGATEWAY_SDS)' MESH_KGATEWAY_SDS_VERSION='$(MESH_KGATEWAY_VERSION)' \
	MESH_GLOO_SDS='$(MESH_GLOO_SDS)' MESH_GLOO_SDS_VERSION='$(MESH_GLOO_SDS_VERSION)'

MESH_GO ?= go
# Static, for this machine, from the committed go.mod/go.sum only.
MESH_GO_BUILD = GOWORK=off CGO_ENABLED=0 \
	GOOS="$$($(MESH_GO) env GOHOSTOS)" GOARCH="$$($(MESH_GO) env GOHOSTARCH)" \
	$(MESH_GO) build -mod=readonly -trimpath -buildvcs=false

.PHONY: mesh-assets mesh-assets-clean mesh-test
mesh-assets: $(MESH_BINARIES) ## build istiod, the Istio agent and both sds servers into bin/mesh/ (once)

mesh-assets-clean: ## delete bin/mesh (all cached mesh binaries)
	rm -rf '$(MESH_DIR)'

mesh-test: envtest-assets mesh-assets ## run only the real-mesh suite (istiod, agent, sds as gatemesh injects them)
	KUBEBUILDER_ASSETS='$(KUBEBUILDER_ASSETS)' $(MESH_TEST_ENV) $(MESH_GO) test -count=1 -v ./test/mesh/... $(MESH_ARGS)

# Build to a temporary name, smoke-test, then rename: an interrupted or failed
# build never leaves a file make would consider up to date.
# $(1): target, $(2): dir to build in, $(3): package, $(4): ldflags,
# $(5): what, $(6): smoke test command on "$$tmp"
define mesh_build
	@set -e; \
	mkdir -p '$(dir $(1))'; \
	echo 'mesh: building $(5) (first time only)...'; \
	tmp='$(1).tmp.'$$$$; trap 'rm -f "$$tmp"' EXIT; trap 'exit 130' HUP INT TERM; \
	start=$$(date +%s); \
	cd '$(2)'; \
	$(MESH_GO_BUILD) -ldflags='-s -w $(4)' -o "$$tmp" '$(3)'; \
	$(6); \
	mv -f "$$tmp" '$(1)'; \
	echo "mesh: built $(1) in $$(( $$(date +%s) - start ))s"
endef

MESH_ISTIO_SMOKE = "$$tmp" version --short >/dev/null 2>&1
# Without ISTIO_MTLS_SDS_ENABLED both servers refuse to start, and say why.
MESH_SDS_SMOKE = env -i "$$tmp" 2>&1 | grep -q 'must be enabled'

$(MESH_PILOT_DISCOVERY):
	$(call mesh_build,$@,$(MESH_ISTIO_TOOLS_DIR),istio.io/istio/pilot/cmd/pilot-discovery,,pilot-discovery $(MESH_ISTIO_VERSION) (~11 min cold),$(MESH_ISTIO_SMOKE))

$(MESH_PILOT_AGENT):
	$(call mesh_build,$@,$(MESH_ISTIO_TOOLS_DIR),istio.io/istio/pilot/cmd/pilot-agent,,pilot-agent $(MESH_ISTIO_VERSION) (under 1 min after pilot-discovery),$(MESH_ISTIO_SMOKE))

$(MESH_KGATEWAY_SDS):
	$(call mesh_build,$@,$(MESH_KGATEWAY_TOOLS_DIR),github.com/kgateway-dev/kgateway/v2/cmd/sds,,kgateway sds $(MESH_KGATEWAY_VERSION) (~1 min cold),$(MESH_SDS_SMOKE))

$(MESH_GLOO_SDS):
	@test -d '$(MESH_GLOO_SDS_SRC)/projects/sds' || { echo 'mesh: no Gloo sds source at $(MESH_GLOO_SDS_SRC) (set MESH_GLOO_SDS_SRC)'; exit 1; }
	$(call mesh_build,$@,$(MESH_GLOO_SDS_SRC),./projects/sds/cmd,-X github.com/solo-io/gloo/pkg/version.Version=$(MESH_GLOO_SDS_VERSION),Gloo sds $(MESH_GLOO_SDS_VERSION) (~3-6 min cold),$(MESH_SDS_SMOKE))

ifeq ($(MESH_STANDALONE),)
.DEFAULT_GOAL := $(MESH_SAVED_DEFAULT_GOAL)
endif
