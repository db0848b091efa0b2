//go:build tools

// Package tools pins helm.sh/helm/v4, built into bin/helm by hack/helm.mk.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
