package mutate

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Names of what gatemesh injects.
const (
	IstioProxyName = policy.IstioProxyContainer
	SDSName        = policy.SDSContainer

	// SDSPort is where sds serves the mesh certificates to the gateway's
	// Envoy.
	SDSPort = 8234

	volIstioCerts       = "istio-certs"
	volIstiodCACert     = "istiod-ca-cert"
	volIstioEnvoy       = "istio-envoy"
	volIstioToken       = "istio-token"
	volCredentialSocket = "credential-socket"
	volWorkloadSocket   = "workload-socket"
	volWorkloadCerts    = "workload-certs"

	istioCertsPath = "/etc/istio-certs/"
)

// The fields below are set to the values the API server would default them
// to. A pod that comes back from the API server (on reinvocation, or when a
// template injected offline becomes a pod) then compares equal to what
// gatemesh would write, and yields an empty patch.
const (
	terminationMessagePath   = corev1.TerminationMessagePathDefault
	terminationMessagePolicy = corev1.TerminationMessageReadFile
	fileMode420              = int32(420)
	tokenExpirationSeconds   = int64(43200)
)

func istioProxyContainer(plan policy.PodPlan) corev1.Container {
	s := plan.Sidecars
	return corev1.Container{
		Name:  IstioProxyName,
		Image: s.ProxyImage,
		Args: []string{
			"proxy", "sidecar",
			"--domain", "$(POD_NAMESPACE).svc.cluster.local",
			"--configPath", "/etc/istio/proxy",
			"--serviceCluster", "istio-proxy-prometheus",
			"--drainDuration", "45s",
			"--parentShutdownDuration", "1m0s",
			"--proxyLogLevel=" + s.ProxyLogLevel,
			"--proxyComponentLogLevel=" + s.ComponentLogLevel,
			"--connectTimeout", "10s",
			"--controlPlaneAuthPolicy", "NONE",
			"--dnsRefreshRate", "300s",
			"--controlPlaneBootstrap=false",
		},
		Env: []corev1.EnvVar{
			{Name: "OUTPUT_CERTS", Value: "/etc/istio-certs"},
			{Name: "JWT_POLICY", Value: "third-party-jwt"},
			{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
			{Name: "CA_ADDR", Value: caAddress(plan)},
			{Name: "ISTIO_META_MESH_ID", Value: s.MeshID},
			{Name: "ISTIO_META_CLUSTER_ID", Value: s.ClusterID},
			{Name: "PROXY_CONFIG", Value: proxyConfig(plan.DiscoveryAddress)},
			{Name: "DISABLE_ENVOY", Value: "true"},
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("INSTANCE_IP", "status.podIP"),
			fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
			fieldEnv("HOST_IP", "status.hostIP"),
			fieldEnv("ISTIO_META_POD_NAME", "metadata.name"),
			fieldEnv("ISTIO_META_CONFIG_NAMESPACE", "metadata.namespace"),
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volIstiodCACert, MountPath: "/var/run/secrets/istio"},
			{Name: volIstioEnvoy, MountPath: "/etc/istio/proxy"},
			{Name: volIstioCerts, MountPath: istioCertsPath},
			{Name: volIstioToken, MountPath: "/var/run/secrets/tokens"},
			{Name: volCredentialSocket, MountPath: "/var/run/secrets/credential-uds"},
			{Name: volWorkloadSocket, MountPath: "/var/run/secrets/workload-spiffe-uds"},
			{Name: volWorkloadCerts, MountPath: "/var/run/secrets/workload-spiffe-credentials"},
		},
		Resources:                *s.ProxyResources.DeepCopy(),
		SecurityContext:          s.ProxySecurity.DeepCopy(),
		TerminationMessagePath:   terminationMessagePath,
		TerminationMessagePolicy: terminationMessagePolicy,
		ImagePullPolicy:          pullPolicy(s.ProxyImage),
	}
}

func sdsContainer(plan policy.PodPlan) corev1.Container {
	s := plan.Sidecars
	mounts := []corev1.VolumeMount{{Name: volIstioCerts, MountPath: istioCertsPath}}
	if plan.MountEnvoyConfig {
		mounts = append(mounts, corev1.VolumeMount{Name: s.EnvoyConfigVolume, MountPath: "/etc/envoy"})
	}
	return corev1.Container{
		Name:  SDSName,
		Image: plan.SDSImage,
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			{Name: "ISTIO_MTLS_SDS_ENABLED", Value: "true"},
			{Name: "LOG_LEVEL", Value: s.SDSLogLevel},
		},
		Ports: []corev1.ContainerPort{{Name: SDSName, ContainerPort: SDSPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(SDSPort)}},
			InitialDelaySeconds: 3,
			PeriodSeconds:       10,
			FailureThreshold:    3,
			TimeoutSeconds:      1,
			SuccessThreshold:    1,
		},
		VolumeMounts:             mounts,
		Resources:                *s.SDSResources.DeepCopy(),
		SecurityContext:          s.SDSSecurity.DeepCopy(),
		TerminationMessagePath:   terminationMessagePath,
		TerminationMessagePolicy: terminationMessagePolicy,
		ImagePullPolicy:          pullPolicy(plan.SDSImage),
	}
}

// volumes are the pod volumes the two containers mount, in the order of
// policy.InjectedVolumes (TestVolumesAreTheInjectedOnes checks it).
func volumes() []corev1.Volume {
	return []corev1.Volume{
		{Name: volIstioCerts, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: volIstiodCACert, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "istio-ca-root-cert"},
			DefaultMode:          ptr.To(fileMode420),
		}}},
		{Name: volIstioEnvoy, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: volIstioToken, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          "istio-ca",
				ExpirationSeconds: ptr.To(tokenExpirationSeconds),
				Path:              "istio-token",
			}}},
			DefaultMode: ptr.To(fileMode420),
		}}},
		{Name: volCredentialSocket, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volWorkloadSocket, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volWorkloadCerts, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

// proxyConfig is the PROXY_CONFIG env value, a JSON object.
func proxyConfig(discoveryAddress string) string {
	b, _ := json.Marshal(struct {
		DiscoveryAddress string `json:"discoveryAddress"`
	}{discoveryAddress})
	return string(b)
}

// pullPolicy is the API server's default: Always for an untagged or :latest
// image, IfNotPresent otherwise.
func pullPolicy(image string) corev1.PullPolicy {
	name := image
	if i := strings.LastIndex(name, "@"); i >= 0 {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	_, tag, ok := strings.Cut(name, ":")
	if !ok || tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// caAddress is the plan's CA address, which defaults to its discovery
// address.
func caAddress(plan policy.PodPlan) string {
	if plan.CAAddress != "" {
		return plan.CAAddress
	}
	return plan.DiscoveryAddress
}
