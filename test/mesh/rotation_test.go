package mesh

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gatemesh/gatemesh/pkg/mutate"
)

// startSDS runs the sds container, from the build of the image gatemesh
// gave it, and waits until it listens.
func (r *gatewayRun) startSDS(run *podRun) {
	i := slices.IndexFunc(run.pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == mutate.SDSName })
	image := run.pod.Spec.Containers[i].Image
	if image != r.g.sdsImage {
		r.must("webhook", fmt.Errorf("gatemesh gave sds the image %s, want %s for this gateway's flavour", image, r.g.sdsImage))
	}
	bin, err := suite.bins.sdsBinary(image)
	r.must("sds", err)
	spec, err := suite.kubelet.spec(run, mutate.SDSName, bin, sdsEntrypoint)
	r.must("sds", err)
	r.sds, err = startContainer(mutate.SDSName, filepath.Join(r.dir, "sds.log"), spec)
	r.must("sds", err)
	r.t.Cleanup(r.sds.Stop)
	err = poll(r.ctx, stepTimeout, func() (bool, error) {
		conn, err := net.DialTimeout("tcp", sdsAddress, time.Second)
		if err != nil {
			return false, r.sds.Exited()
		}
		_ = conn.Close()
		return true, nil
	})
	r.must("sds", err, r.sds, r.agent)
}

// checkSDS asks sds for both secrets as the gateway's Envoy does and checks
// the first answers, then follows istio_server_cert through rotations:
// every pushed key must match its certificate.
func (r *gatewayRun) checkSDS(tr *trust) {
	conn, err := dialSDS(sdsAddress)
	r.must("sds", err)
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	// Both servers key their snapshot by POD_NAME.POD_NAMESPACE, the
	// node ID of the gateway's Envoy.
	nodeID := r.pod.Name + "." + r.pod.Namespace
	certs, err := watchSecret(ctx, conn, nodeID, serverCertSecret)
	r.must("sds", err, r.sds)
	cas, err := watchSecret(ctx, conn, nodeID, validationContextSecret)
	r.must("sds", err, r.sds)

	p, err := next(ctx, cas, stepTimeout)
	if err == nil {
		var ca []byte
		if ca, err = validationMaterial(p.secret); err == nil {
			err = tr.checkRoot(ca)
		}
	}
	r.must("sds", failedWith(validationContextSecret, err), r.sds, r.agent)
	p, err = next(ctx, certs, stepTimeout)
	var serial string
	if err == nil {
		serial, err = checkServerCert(tr, p)
	}
	r.must("sds", failedWith(serverCertSecret, err), r.sds, r.agent)

	// Rotations: the agent rewrites key.pem and cert-chain.pem every half
	// SECRET_TTL; sds pushes what it reads.
	rotations := *flagRotations
	seen := []string{serial}
	pushes := 1
	var mismatched []string
	deadline := time.Now().Add(time.Duration(rotations)*(*flagSecretTTL) + stepTimeout)
	for len(seen) <= rotations {
		p, err := next(ctx, certs, time.Until(deadline))
		if err != nil {
			r.must("rotation", fmt.Errorf("%d of %d rotations seen after %d pushes of %s: %w%s",
				len(seen)-1, rotations, pushes, serverCertSecret, err, mismatchList(mismatched)), r.sds, r.agent)
		}
		pushes++
		serial, err := checkServerCert(tr, p)
		if err != nil {
			mismatched = append(mismatched, fmt.Sprintf("push %d (version %s): %v", pushes, p.version, err))
			continue
		}
		if !slices.Contains(seen, serial) {
			seen = append(seen, serial)
		}
	}
	if len(mismatched) > 0 {
		r.must("rotation", fmt.Errorf("sds pushed %d bad %s of %d during %d rotations (image %s):%s",
			len(mismatched), serverCertSecret, pushes, rotations, r.g.sdsImage, mismatchList(mismatched)), r.sds, r.agent)
	}
	r.t.Logf("%s: %d rotations, %d pushes of %s, each key matched its certificate, chained to istiod's root and named %s",
		r.g.sdsImage, rotations, pushes, serverCertSecret, tr.spiffe)
}

func checkServerCert(tr *trust, p push) (string, error) {
	chain, key, err := serverCertMaterial(p.secret)
	if err != nil {
		return "", err
	}
	return tr.checkPair(chain, key)
}

func failedWith(secret string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", secret, err)
}

func mismatchList(m []string) string {
	if len(m) == 0 {
		return ""
	}
	return "\n  " + strings.Join(m, "\n  ")
}

// next waits for the next push on c.
func next(ctx context.Context, c <-chan push, timeout time.Duration) (push, error) {
	select {
	case p, ok := <-c:
		if !ok {
			return push{}, fmt.Errorf("SDS stream closed")
		}
		return p, p.err
	case <-time.After(timeout):
		return push{}, fmt.Errorf("no push within %s", timeout.Round(time.Second))
	case <-ctx.Done():
		return push{}, ctx.Err()
	}
}

// csrCounts is each istiod's count of signing requests.
func (r *gatewayRun) csrCounts() map[string]float64 {
	counts := map[string]float64{}
	for rev, d := range suite.istiod {
		n, err := d.csrCount(r.ctx)
		r.must("revision", err, d.proc)
		counts[rev] = n
	}
	return counts
}

// checkRevision checks that the agent's signing requests went to the
// revision's istiod and none to the default one.
func (r *gatewayRun) checkRevision(before map[string]float64) {
	after := r.csrCounts()
	def, rev := suite.istiod["default"], suite.istiod[r.g.revision]
	if got := after[r.g.revision] - before[r.g.revision]; got < 1 {
		r.must("revision", fmt.Errorf("%s signed %v certificates for the pod, want at least 1", rev.proc.name, got), rev.proc, def.proc, r.agent)
	}
	if got := after["default"] - before["default"]; got != 0 {
		r.must("revision", fmt.Errorf("the default istiod signed %v certificates while only the %s gateway ran, want 0", got, r.g.revision),
			rev.proc, def.proc, r.agent)
	}
}
