package mesh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/test/e2e"
)

// A gateway pod the suite creates and runs.
type gateway struct {
	namespace string
	labels    map[string]string
	revision  string // the namespace's istio.io/rev; empty for none
	sdsImage  string // the image gatemesh must give its sds container
}

const (
	serviceAccount = "gateway-proxy"
	trustDomain    = "cluster.local"
	sdsAddress     = "127.0.0.1:8234"
	stepTimeout    = 60 * time.Second
)

func runGateway(t *testing.T, g gateway) {
	ctx, cancel := context.WithCancel(suite.ctx)
	t.Cleanup(cancel)
	r := &gatewayRun{t: t, g: g, ctx: ctx}
	r.dir = filepath.Join(suite.dir, g.namespace)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatalf("failed to create the pod's directory: %v", err)
	}
	var before map[string]float64
	if g.revision != "" {
		before = r.csrCounts()
	}
	pod := r.createPod()
	tr := r.trust(pod)
	run := r.prepare(pod)
	certs := r.startAgent(run)
	r.must("files", tr.checkFiles(certs), r.agent)
	r.startSDS(run)
	r.checkSDS(tr)
	if g.revision != "" {
		r.checkRevision(before)
	}
}

// gatewayRun is one gateway's run: its processes, for the log tails of a
// failure.
type gatewayRun struct {
	t          *testing.T
	g          gateway
	ctx        context.Context
	dir        string
	pod        *corev1.Pod // as stored, once running
	agent, sds *proc
}

// must fails the test at step when err is set, with the log tails of procs.
func (r *gatewayRun) must(step string, err error, procs ...*proc) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("%v%s", failedStep(step, err), report(procs...))
	}
}

// istiodFor is the istiod the gateway's namespace should be served by.
func (r *gatewayRun) istiodFor() *istiod {
	if r.g.revision != "" {
		return suite.istiod[r.g.revision]
	}
	return suite.istiod["default"]
}

// createPod creates the gateway's namespace, service account and pod, and
// returns the pod as stored, after gatemesh's webhook.
func (r *gatewayRun) createPod() *corev1.Pod {
	ns := map[string]string{"gatemesh.io/injection": "enabled"}
	if r.g.revision != "" {
		ns["istio.io/rev"] = r.g.revision
	}
	cs := suite.cs.CoreV1()
	err := e2e.EnsureNamespace(r.ctx, suite.cp.Client, r.g.namespace, ns)
	if err == nil {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount}}
		if _, err = cs.ServiceAccounts(r.g.namespace).Create(r.ctx, sa, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err == nil {
		// The gateway's bootstrap volume, which sds also mounts.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gateway-proxy-envoy-config"},
			Data: map[string]string{"envoy.yaml": "node: {id: gateway-proxy}\n"}}
		if _, err = cs.ConfigMaps(r.g.namespace).Create(r.ctx, cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	r.must("webhook", err)
	pod, err := cs.Pods(r.g.namespace).Create(r.ctx, gatewayPod(r.g), metav1.CreateOptions{})
	r.must("webhook", err)
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	if !slices.Contains(names, mutate.IstioProxyName) || !slices.Contains(names, mutate.SDSName) {
		r.must("webhook", fmt.Errorf("the stored pod's containers are %q: gatemesh did not inject %s and %s",
			names, mutate.IstioProxyName, mutate.SDSName))
	}
	return pod
}

// gatewayPod is a gateway proxy pod as Gloo's and kgateway's charts make
// it: non-root user 10101 with fsGroup 10101, and the Envoy bootstrap in a
// ConfigMap volume named envoy-config.
func gatewayPod(g gateway) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "gateway-proxy-", Namespace: g.namespace, Labels: g.labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			SecurityContext:    &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](10101), FSGroup: ptr.To[int64](10101)},
			Containers: []corev1.Container{{
				Name:         "gateway-proxy",
				Image:        "quay.io/solo-io/gloo-envoy-wrapper:1.20.22",
				VolumeMounts: []corev1.VolumeMount{{Name: "envoy-config", MountPath: "/etc/envoy"}},
			}},
			Volumes: []corev1.Volume{{Name: "envoy-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "gateway-proxy-envoy-config"},
			}}}},
		},
	}
}

// trust waits for istiod's root in the pod's namespace (the ConfigMap the
// istiod-ca-cert volume reads) and returns what the certificates must
// match: the root of istiod's CA Secret and the pod's SPIFFE identity.
func (r *gatewayRun) trust(pod *corev1.Pod) *trust {
	d := r.istiodFor()
	cs := suite.cs.CoreV1()
	var cm *corev1.ConfigMap
	err := poll(r.ctx, stepTimeout, func() (bool, error) {
		var err error
		cm, err = cs.ConfigMaps(pod.Namespace).Get(r.ctx, "istio-ca-root-cert", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		r.must("istiod", fmt.Errorf("istiod did not write ConfigMap %s/istio-ca-root-cert: %w", pod.Namespace, err), d.proc)
	}
	secret, err := cs.Secrets(istiodNamespace).Get(r.ctx, "istio-ca-secret", metav1.GetOptions{})
	r.must("istiod", err, d.proc)
	tr, err := newTrust(secret.Data["ca-cert.pem"], fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, pod.Namespace, pod.Spec.ServiceAccountName))
	r.must("istiod", err, d.proc)
	r.must("istiod", tr.checkRoot([]byte(cm.Data["root-cert.pem"])), d.proc)
	return tr
}

// prepare reports the pod running and materialises its volumes.
func (r *gatewayRun) prepare(pod *corev1.Pod) *podRun {
	pod, err := suite.kubelet.setRunning(r.ctx, pod)
	r.must("token", err)
	run, err := suite.kubelet.prepareVolumes(r.ctx, pod, r.dir)
	r.must("token", err, r.istiodFor().proc)
	r.pod = pod
	return run
}

// certsDir is the host directory of the volume sds reads at
// /etc/istio-certs.
func certsDir(run *podRun) (string, error) {
	for _, c := range run.pod.Spec.Containers {
		if c.Name != mutate.SDSName {
			continue
		}
		for _, m := range c.VolumeMounts {
			if strings.TrimSuffix(m.MountPath, "/") == "/etc/istio-certs" {
				return run.volumes[m.Name], nil
			}
		}
	}
	return "", fmt.Errorf("sds mounts nothing at /etc/istio-certs")
}

// startAgent runs istio-proxy and waits for its certificate files.
func (r *gatewayRun) startAgent(run *podRun) string {
	d := r.istiodFor()
	spec, err := suite.kubelet.spec(run, mutate.IstioProxyName, suite.bins.pilotAgent, agentEntrypoint,
		corev1.EnvVar{Name: "SECRET_TTL", Value: flagSecretTTL.String()})
	r.must("agent", err)
	r.agent, err = startContainer(mutate.IstioProxyName, filepath.Join(r.dir, "istio-proxy.log"), spec)
	r.must("agent", err)
	r.t.Cleanup(r.agent.Stop)
	dir, err := certsDir(run)
	r.must("agent", err)
	err = poll(r.ctx, stepTimeout, func() (bool, error) { return filesPresent(dir), r.agent.Exited() })
	r.must("agent", err, r.agent, d.proc)
	return dir
}

// poll calls f every 100ms until it reports done or an error, or timeout.
func poll(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := f()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
