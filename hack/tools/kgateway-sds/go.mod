// Tools module: builds kgateway's SDS server (cmd/sds) for the real-mesh
// suite in test/mesh (see hack/mesh.mk).
module github.com/gatemesh/gatemesh/hack/tools/kgateway-sds

go 1.26.0

tool github.com/kgateway-dev/kgateway/v2/cmd/sds

require (
	cel.dev/expr v0.25.1 // indirect
	github.com/avast/retry-go/v4 v4.7.0 // indirect
	github.com/cncf/xds/go v0.0.0-20251110193048-8bfbf64dc13e // indirect
	github.com/envoyproxy/go-control-plane v0.14.0 // indirect
	github.com/envoyproxy/go-control-plane/envoy v1.36.1-0.20251120180717-7c66c7f1d0b2 // indirect
	github.com/envoyproxy/go-control-plane/ratelimit v0.1.1-0.20250507123352-93990c5ec02f // indirect
	github.com/envoyproxy/protoc-gen-validate v1.2.1 // indirect
	github.com/fsnotify/fsnotify v1.9.0 // indirect
	github.com/kelseyhightower/envconfig v1.4.0 // indirect
	github.com/kgateway-dev/kgateway/v2 v2.2.0 // indirect
	github.com/mitchellh/hashstructure v1.1.0 // indirect
	github.com/planetscale/vtprotobuf v0.6.1-0.20240409071808-615f978279ca // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20251213004720-97cd9d5aeac2 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251213004720-97cd9d5aeac2 // indirect
	google.golang.org/grpc v1.77.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
