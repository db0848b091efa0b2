# hack/helm.mk - helm for the chart's lint and render tests, built once.
#
# Builds helm from the Go module proxy (the version in hack/tools/helm/go.mod)
# into bin/helm/<version>/helm; once that file exists the target is up to date
# and costs nothing. A new version in go.mod is a new folder, built once.
#
# Targets:
#   helm-bin        build (if missing) bin/helm/<version>/helm
#   helm-path       print the absolute path of that helm
#   chart-lint      helm lint --strict and helm template of charts/gatemesh
#
# Variables for the including Makefile:
#   HELM            absolute path of the binary (test/install reads it as $$HELM)

HELM_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
HELM_REPO_ROOT := $(patsubst %/,%,$(dir $(HELM_MK_DIR)))
HELM_TOOLS_DIR := $(HELM_MK_DIR)/tools/helm
HELM_VERSION := $(shell awk '$$1 == "require" { $$1 = "" ; $$0 = $$0 } $$1 == "helm.sh/helm/v4" && $$2 ~ /^v/ { print $$2; exit }' '$(HELM_TOOLS_DIR)/go.mod' 2>/dev/null)
ifeq ($(HELM_VERSION),)
$(error helm.mk: no helm.sh/helm/v4 requirement in $(HELM_TOOLS_DIR)/go.mod)
endif
HELM := $(HELM_REPO_ROOT)/bin/helm/$(HELM_VERSION)/helm
HELM_GO ?= go

.PHONY: helm-bin helm-path chart-lint
helm-bin: $(HELM) ## build helm from the Go module proxy into bin/helm/<version>/ (once)

helm-path: ## print the path of bin/helm/<version>/helm (for HELM=)
	@echo '$(HELM)'

chart-lint: $(HELM) ## helm lint --strict and helm template of charts/gatemesh, in both certificate modes
	$(HELM) lint --strict $(HELM_REPO_ROOT)/charts/gatemesh
	$(HELM) lint --strict $(HELM_REPO_ROOT)/charts/gatemesh --set certificates.mode=self
	$(HELM) template gatemesh $(HELM_REPO_ROOT)/charts/gatemesh --namespace gatemesh-system >/dev/null
	$(HELM) template gatemesh $(HELM_REPO_ROOT)/charts/gatemesh --namespace gatemesh-system --set certificates.mode=self >/dev/null

# Built to a temporary name, smoke-tested with `version`, then renamed, so an
# interrupted build never leaves a file make would consider up to date. The
# version stamp is the one helm's own Makefile sets.
$(HELM):
	@set -e; mkdir -p '$(@D)'; \
	echo 'helm: building $(HELM_VERSION) from the Go module proxy (first time only, ~2-4 min)...'; \
	tmp='$@.tmp.'$$$$; trap 'rm -f "$$tmp"' EXIT; trap 'exit 130' HUP INT TERM; \
	cd '$(HELM_TOOLS_DIR)'; \
	GOWORK=off CGO_ENABLED=0 $(HELM_GO) build -mod=readonly -trimpath -buildvcs=false \
		-ldflags='-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)' -o "$$tmp" helm.sh/helm/v4/cmd/helm; \
	"$$tmp" version >/dev/null; \
	mv -f "$$tmp" '$@'; \
	echo "helm: built $@"
