# hack/envtest.mk - control-plane binaries for controller-runtime's envtest.
#
# Builds kube-apiserver and etcd from source through the Go module proxy (no
# other downloads, no root) into bin/k8s/<kubernetes-version>/ and caches them
# there: once both binaries exist the targets are up to date and cost nothing.
#
# Use from the main Makefile:
#
#   include hack/envtest.mk
#   test: envtest-assets
#   	KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) go test ./...
#
# or standalone:  make -f hack/envtest.mk envtest-assets
#
# Versions come from the tools modules' go.mod files (the single source of
# truth); change them with hack/tools/envtest/update.sh <k8s-version>:
#   hack/tools/envtest/go.mod  k8s.io/kubernetes        -> kube-apiserver
#   hack/tools/etcd/go.mod     go.etcd.io/etcd/server/v3 -> etcd
#
# Targets:
#   envtest-assets        build (if missing) bin/k8s/<version>/{kube-apiserver,etcd}
#   envtest-assets-path   print the absolute KUBEBUILDER_ASSETS directory
#   envtest-assets-clean  remove bin/k8s (every cached version)
#
# Variables for the including Makefile:
#   KUBEBUILDER_ASSETS / ENVTEST_ASSETS_DIR  absolute path of bin/k8s/<version>
#   ENVTEST_K8S_VERSION, ENVTEST_ETCD_VERSION  e.g. 1.36.3, 3.6.8
#   ENVTEST_KUBE_APISERVER, ENVTEST_ETCD       absolute paths of the binaries

# Must come before any other include: locate this file, and from it the repo.
ENVTEST_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ENVTEST_STANDALONE := $(if $(filter 1,$(words $(MAKEFILE_LIST))),yes)
ENVTEST_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

ENVTEST_REPO_ROOT := $(patsubst %/,%,$(dir $(ENVTEST_MK_DIR)))
ENVTEST_K8S_TOOLS_DIR := $(ENVTEST_MK_DIR)/tools/envtest
ENVTEST_ETCD_TOOLS_DIR := $(ENVTEST_MK_DIR)/tools/etcd

# "k8s.io/kubernetes v1.36.3 // indirect" -> 1.36.3
ENVTEST_K8S_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" && $$2 ~ /^v/ { sub(/^v/, "", $$2); print $$2; exit }' '$(ENVTEST_K8S_TOOLS_DIR)/go.mod' 2>/dev/null)
ENVTEST_ETCD_VERSION := $(shell awk '$$1 == "go.etcd.io/etcd/server/v3" && $$2 ~ /^v/ { sub(/^v/, "", $$2); print $$2; exit }' '$(ENVTEST_ETCD_TOOLS_DIR)/go.mod' 2>/dev/null)
ifeq ($(ENVTEST_K8S_VERSION),)
$(error envtest.mk: no k8s.io/kubernetes requirement in $(ENVTEST_K8S_TOOLS_DIR)/go.mod)
endif
ifeq ($(ENVTEST_ETCD_VERSION),)
$(error envtest.mk: no go.etcd.io/etcd/server/v3 requirement in $(ENVTEST_ETCD_TOOLS_DIR)/go.mod)
endif
ENVTEST_K8S_MAJOR := $(word 1,$(subst ., ,$(ENVTEST_K8S_VERSION)))
ENVTEST_K8S_MINOR := $(word 2,$(subst ., ,$(ENVTEST_K8S_VERSION)))

ENVTEST_ASSETS_DIR := $(ENVTEST_REPO_ROOT)/bin/k8s/$(ENVTEST_K8S_VERSION)
KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS_DIR)
ENVTEST_KUBE_APISERVER := $(ENVTEST_ASSETS_DIR)/kube-apiserver
ENVTEST_ETCD := $(ENVTEST_ASSETS_DIR)/etcd
# The folder is keyed by the kubernetes version only; this empty marker makes
# a change of the etcd version (in hack/tools/etcd/go.mod) rebuild etcd.
ENVTEST_ETCD_STAMP := $(ENVTEST_ASSETS_DIR)/.etcd-v$(ENVTEST_ETCD_VERSION)

ENVTEST_GO ?= go
# Build for this machine, from the committed go.mod/go.sum only, statically
# (as upstream ships both binaries), ignoring any go.work. Flags given on the
# command line override the same ones in $GOFLAGS, so -buildvcs=false etc. from
# the environment are fine.
ENVTEST_GO_BUILD = GOWORK=off CGO_ENABLED=0 \
	GOOS="$$($(ENVTEST_GO) env GOHOSTOS)" GOARCH="$$($(ENVTEST_GO) env GOHOSTARCH)" \
	$(ENVTEST_GO) build -mod=readonly -trimpath -buildvcs=false

# Same version stamping as kubernetes' hack/lib/version.sh, so that
# `kube-apiserver --version` and GET /version report the real release.
ENVTEST_KUBE_LDFLAGS := -s -w $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=v$(ENVTEST_K8S_VERSION) \
	-X $(pkg).gitMajor=$(ENVTEST_K8S_MAJOR) \
	-X $(pkg).gitMinor=$(ENVTEST_K8S_MINOR) \
	-X $(pkg).gitTreeState=clean)
ENVTEST_ETCD_LDFLAGS := -s -w

.PHONY: envtest-assets envtest-assets-path envtest-assets-clean
envtest-assets: $(ENVTEST_KUBE_APISERVER) $(ENVTEST_ETCD) ## build kube-apiserver + etcd for envtest into bin/k8s/<version>/ (once)

envtest-assets-path: ## print the KUBEBUILDER_ASSETS directory
	@echo '$(ENVTEST_ASSETS_DIR)'

envtest-assets-clean: ## delete bin/k8s (all cached envtest binaries)
	rm -rf '$(ENVTEST_REPO_ROOT)/bin/k8s'

# Both binaries are built to a temporary name next to the target, smoke-tested
# with --version and only then renamed into place, so an interrupted or failed
# build never leaves a file that make would consider up to date.
# $(1): target, $(2): tools module dir, $(3): package, $(4): ldflags,
# $(5): what is being built, $(6): how long a cold build takes
define envtest_build
	@set -e; \
	mkdir -p '$(dir $(1))'; \
	echo 'envtest: building $(5) from the Go module proxy (first time only, $(6))...'; \
	tmp='$(1).tmp.'$$$$; trap 'rm -f "$$tmp"' EXIT; trap 'exit 130' HUP INT TERM; \
	start=$$(date +%s); \
	cd '$(2)'; \
	$(ENVTEST_GO_BUILD) -ldflags='$(4)' -o "$$tmp" '$(3)'; \
	"$$tmp" --version >/dev/null; \
	mv -f "$$tmp" '$(1)'; \
	echo "envtest: built $(1) in $$(( $$(date +%s) - start ))s"
endef

$(ENVTEST_KUBE_APISERVER):
	$(call envtest_build,$@,$(ENVTEST_K8S_TOOLS_DIR),k8s.io/kubernetes/cmd/kube-apiserver,$(ENVTEST_KUBE_LDFLAGS),kube-apiserver v$(ENVTEST_K8S_VERSION),~6-10 min on 2 cores)

$(ENVTEST_ETCD): $(ENVTEST_ETCD_STAMP)
	$(call envtest_build,$@,$(ENVTEST_ETCD_TOOLS_DIR),go.etcd.io/etcd/server/v3,$(ENVTEST_ETCD_LDFLAGS),etcd v$(ENVTEST_ETCD_VERSION),~1-4 min on 2 cores)

$(ENVTEST_ETCD_STAMP):
	@mkdir -p '$(@D)' && rm -f '$(@D)'/.etcd-v* && touch '$@'

# When included, do not let envtest-assets become the including Makefile's
# default goal (an emptied .DEFAULT_GOAL means "the next target defined").
ifeq ($(ENVTEST_STANDALONE),)
.DEFAULT_GOAL := $(ENVTEST_SAVED_DEFAULT_GOAL)
endif
