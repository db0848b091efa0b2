// Package mesh proves, with the real mesh components, that the sidecars
// gatemesh injects work: istiod (pilot-discovery) runs against envtest's
// kube-apiserver, a gateway pod is created through gatemesh's webhook
// (test/e2e), and the stored pod's istio-proxy (the Istio agent) and sds
// containers run as local processes the way a kubelet would run them. An SDS
// client that behaves as the gateway's Envoy does (one stream per secret,
// ACK with version and nonce) then checks what sds serves, through several
// forced certificate rotations.
//
// Steps, named in every failure with the log tails that explain it:
// webhook (the stored pod has both sidecars), istiod (it runs and writes
// istio-ca-root-cert into the namespace), token (the TokenRequest for the
// projected volume), agent (the agent writes cert-chain.pem, key.pem and
// root-cert.pem), files (those files carry the pod's SPIFFE identity and chain
// to istiod's root), sds (sds serves istio_server_cert with a key that
// matches it and istio_validation_context with istiod's root), rotation
// (every push during forced rotations is a matching pair, chained to the
// root) and revision (a pod in an istio.io/rev namespace is served by that
// revision's istiod).
//
// The binaries come from `make mesh-assets` (hack/mesh.mk), which builds them
// once into bin/mesh/; `make test` and `make mesh-test` pass their paths in
// MESH_* variables. Without them the suite fails and says how to build them.
// It must run as root (it creates mount namespaces, bind mounts, chroots and
// changes user, as a container runtime does).
//
// Deviations from a real kubelet and container runtime, and why none of them
// weakens the check:
//
//   - The container's root filesystem is an empty tmpfs holding only the
//     binary at the image's entrypoint path, /etc/hosts, /etc/resolv.conf,
//     /etc/nsswitch.conf, a few /dev nodes and /proc, instead of the image's
//     layers. The binary is the same program, built from the same source at
//     the version the image names; the agent and sds read nothing else from
//     their images but CA bundles they do not use here.
//   - chroot in a private mount and UTS namespace instead of pivot_root in
//     full pod namespaces. There are no pid, network or IPC namespaces: both
//     containers share the host's network, as the two containers of one pod
//     share the pod's, and the pod IP is 127.0.0.1 (the suite writes it and
//     hostIP into the pod's status, as the kubelet reports them, before
//     resolving fieldRefs). Gateways therefore run one at a time.
//   - Cluster DNS is replaced by the pod's private /etc/hosts mapping each
//     istiod service name to its loopback address. CA_ADDR stays as injected,
//     so the agent still checks istiod's certificate for that name.
//   - emptyDirs (including medium Memory) are directories on disk, and
//     ConfigMap and token volumes are plain files rather than the kubelet's
//     ..data symlink swap; ownership and modes follow the kubelet (group
//     fsGroup, setgid directories, defaultMode). The agent writes its
//     certificates itself, so their rotation is exactly the agent's.
//   - The token is requested once at start (TokenRequest with the volume's
//     audience and expiry, bound to the pod) and not refreshed; the suite
//     runs for minutes, the token lives 12 hours.
//   - A container without runAsGroup runs with gid 0, as runtimes do for a
//     uid that the image's /etc/passwd does not list.
//   - istio-proxy gets one extra variable, SECRET_TTL, so that the agent
//     rotates its certificate every few seconds rather than every 12 hours;
//     the rotation path is the production one.
//   - The gateway container itself is not run: the suite's SDS client
//     takes the place of its Envoy, asking for the same two secrets over the
//     same protocol with the same node ID (POD_NAME.POD_NAMESPACE), and
//     checks each answer more strictly than Envoy would.
//   - /proc shows the host's processes (no pid namespace); neither program
//     looks at other processes.
//   - Probes, resource limits and restarts are not applied: a container
//     that exits fails its step.
//
// kgateway pods get Gloo's sds in the suite's policy unless
// -mesh.kgateway-sds=kgateway: kgateway v2.2.0's own server, the newest on
// the module proxy, pushes keys that do not match their certificates during
// rotations (see kgatewayFlavourImage). Useful flags, after -args:
// -mesh.rotations, -mesh.secret-ttl, -mesh.keep (keep logs and volumes).
package mesh
