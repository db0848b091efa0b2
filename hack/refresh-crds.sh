#!/usr/bin/env bash
# Refreshes test/crds/ from the upstream releases gatemesh is tested against.
#
#   - kgateway's Backend CRD (gateway.kgateway.dev/v1alpha1), taken unchanged
#     from the kgateway module on the Go module proxy: its Helm chart's
#     install/helm/kgateway-crds/templates/gateway.kgateway.dev_backends.yaml,
#     which is plain YAML (no template directives; the script checks).
#   - Gloo's Upstream CRD is NOT copied: test/e2e installs it at test time from
#     ../shared/reference/gloo-1.17.38/gloo.solo.io_v1_Upstream.yaml
#     (e2e.GlooUpstreamCRD), beside the repository.
#
# Usage: hack/refresh-crds.sh [kgateway-version]   (default v2.2.0)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-v2.2.0}
module=github.com/kgateway-dev/kgateway/v2
src=install/helm/kgateway-crds/templates/gateway.kgateway.dev_backends.yaml
dst=$root/test/crds/gateway.kgateway.dev_backends.yaml

dir=$(cd "$root" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z "$dir" || ! -f "$dir/$src" ]]; then
	echo "failed to find $src in $module@$version" >&2
	exit 1
fi
if grep -q '{{' "$dir/$src"; then
	echo "$module@$version: $src is a Helm template, not plain YAML" >&2
	exit 1
fi
size=$(wc -c <"$dir/$src")
if ((size > 300 * 1024)); then
	echo "$src is $size bytes, over the 300 KB a committed file may be: load it from the module cache instead" >&2
	exit 1
fi
mkdir -p "$(dirname "$dst")"
{
	echo "# kgateway's Backend CRD, unchanged from $module@$version"
	echo "# ($src). Refresh with hack/refresh-crds.sh; do not edit."
	cat "$dir/$src"
} >"$dst"
echo "wrote $dst from $module@$version"
