package mesh

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// podIP is the pod's (and node's) address: containers share the host's
// network namespace (see the package comment).
const podIP = "127.0.0.1"

// kubelet runs a stored pod's containers as the kubelet would.
type kubelet struct {
	cs     kubernetes.Interface
	server *url.URL // the API server, for the kubernetes service variables
	// hosts maps names to addresses in every pod's /etc/hosts (istiods).
	hosts map[string]string
}

// podRun is a pod being run: its stored object and its volumes on disk.
type podRun struct {
	pod     *corev1.Pod
	dir     string
	volumes map[string]string // volume name -> host directory
	// readOnly marks the API-data volumes (ConfigMap, projected), which
	// the kubelet always mounts read-only.
	readOnly map[string]bool
}

// setRunning reports the pod Running with its IPs, as the kubelet does
// before the fieldRefs to status.podIP and status.hostIP mean anything.
func (k *kubelet) setRunning(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.HostIP = podIP, podIP
	pod.Status.PodIPs = []corev1.PodIP{{IP: podIP}}
	pod.Status.HostIPs = []corev1.HostIP{{IP: podIP}}
	out, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to update pod status: %w", err)
	}
	return out, nil
}

// prepareVolumes materialises the pod's volumes under dir: emptyDirs,
// ConfigMaps read from the API server, and projected service-account tokens
// from a TokenRequest bound to the pod. A failed TokenRequest is the token
// step's failure; a missing ConfigMap the istiod step's.
func (k *kubelet) prepareVolumes(ctx context.Context, pod *corev1.Pod, dir string) (*podRun, error) {
	run := &podRun{pod: pod, dir: dir, volumes: map[string]string{}, readOnly: map[string]bool{}}
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for _, v := range pod.Spec.Volumes {
		path := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, fmt.Errorf("failed to create volume %s: %w", v.Name, err)
		}
		var err error
		switch {
		case v.EmptyDir != nil:
			err = os.Chmod(path, 0o777)
		case v.ConfigMap != nil:
			err = k.writeConfigMap(ctx, pod.Namespace, v.ConfigMap, path)
			err = failedStep("istiod", err)
		case v.Projected != nil:
			err = k.writeProjected(ctx, pod, v.Projected, path)
		default:
			// The test pod has only the volumes gatemesh adds and emptyDirs.
			err = fmt.Errorf("internal error: volume %s is of a kind the suite does not run", v.Name)
		}
		if err != nil {
			return nil, err
		}
		if err := applyFSGroup(path, fsGroup); err != nil {
			return nil, err
		}
		run.volumes[v.Name] = path
		run.readOnly[v.Name] = v.ConfigMap != nil || v.Projected != nil
	}
	return run, nil
}

func (k *kubelet) writeConfigMap(ctx context.Context, ns string, src *corev1.ConfigMapVolumeSource, dir string) error {
	cm, err := k.cs.CoreV1().ConfigMaps(ns).Get(ctx, src.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("failed to get ConfigMap %s/%s for a volume: %w", ns, src.Name, err)
	}
	mode := os.FileMode(ptr.Deref(src.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode))
	for key, value := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, key), []byte(value), mode); err != nil {
			return fmt.Errorf("failed to write ConfigMap key %s: %w", key, err)
		}
	}
	return nil
}

func (k *kubelet) writeProjected(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource, dir string) error {
	mode := os.FileMode(ptr.Deref(src.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode))
	for _, s := range src.Sources {
		if s.ServiceAccountToken == nil {
			return fmt.Errorf("internal error: projected source of a kind the suite does not run")
		}
		tr, err := k.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authv1.TokenRequest{
			Spec: authv1.TokenRequestSpec{
				Audiences:         []string{s.ServiceAccountToken.Audience},
				ExpirationSeconds: s.ServiceAccountToken.ExpirationSeconds,
				BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return failedStep("token", fmt.Errorf("failed to request a token for service account %s/%s, audience %q: %w",
				pod.Namespace, pod.Spec.ServiceAccountName, s.ServiceAccountToken.Audience, err))
		}
		if err := os.WriteFile(filepath.Join(dir, s.ServiceAccountToken.Path), []byte(tr.Status.Token), mode); err != nil {
			return fmt.Errorf("failed to write token: %w", err)
		}
	}
	return nil
}

// applyFSGroup gives a volume's files to fsGroup and makes its directories
// group-writable and setgid, as the kubelet's SetVolumeOwnership does.
func applyFSGroup(dir string, fsGroup *int64) error {
	if fsGroup == nil {
		return nil
	}
	return filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(*fsGroup)); err != nil {
			return fmt.Errorf("failed to apply fsGroup: %w", err)
		}
		mode := info.Mode().Perm() | 0o040 // group read
		if info.IsDir() {
			mode |= os.ModeSetgid | 0o070
		} else if info.Mode().Perm()&0o200 != 0 {
			mode |= 0o020
		}
		return os.Chmod(path, mode)
	})
}

// spec is the runtime's view of the container name of run's pod: its
// program (the image's entrypoint, here a local build), args and env with
// fieldRefs and $(VAR) resolved, mounts, user and groups.
func (k *kubelet) spec(run *podRun, name, binary, entrypoint string, extraEnv ...corev1.EnvVar) (containerSpec, error) {
	pod := run.pod
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		return containerSpec{}, fmt.Errorf("the stored pod has no container %s", name)
	}
	c := pod.Spec.Containers[i]
	if len(c.Command) > 0 {
		return containerSpec{}, fmt.Errorf("container %s sets a command; the suite runs the image's entrypoint", name)
	}
	env, vars, err := k.env(pod, append(slices.Clone(c.Env), extraEnv...))
	if err != nil {
		return containerSpec{}, fmt.Errorf("container %s: %w", name, err)
	}
	args := make([]string, len(c.Args))
	for j, a := range c.Args {
		args[j] = expand(a, vars)
	}
	dir := filepath.Join(run.dir, "containers", name)
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		return containerSpec{}, fmt.Errorf("failed to create container dir: %w", err)
	}
	termLog := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		return containerSpec{}, fmt.Errorf("failed to create termination log: %w", err)
	}
	s := containerSpec{
		Root: filepath.Join(dir, "root"), Binary: binary, Entrypoint: entrypoint,
		Args: args, Env: env, Hosts: k.etcHosts(pod), Hostname: pod.Name, TerminationLog: termLog,
	}
	for _, m := range c.VolumeMounts {
		src, ok := run.volumes[m.Name]
		if !ok {
			return containerSpec{}, fmt.Errorf("container %s mounts volume %s, which the pod lacks", name, m.Name)
		}
		s.Mounts = append(s.Mounts, bindMount{Source: filepath.Join(src, m.SubPath), Target: m.MountPath, ReadOnly: m.ReadOnly || run.readOnly[m.Name]})
	}
	if err := identity(&s, pod.Spec.SecurityContext, c.SecurityContext); err != nil {
		return containerSpec{}, fmt.Errorf("container %s: %w", name, err)
	}
	return s, nil
}

// identity sets the user, groups and privileges from the pod's and the
// container's security contexts, refusing what the suite cannot honour.
func identity(s *containerSpec, psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) error {
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	uid := ptr.Deref(csc.RunAsUser, ptr.Deref(psc.RunAsUser, 0))
	gid := ptr.Deref(csc.RunAsGroup, ptr.Deref(psc.RunAsGroup, 0))
	if ptr.Deref(csc.RunAsNonRoot, ptr.Deref(psc.RunAsNonRoot, false)) && uid == 0 {
		return fmt.Errorf("runAsNonRoot with uid 0: the kubelet would refuse to start it")
	}
	if ptr.Deref(csc.Privileged, false) {
		return fmt.Errorf("privileged containers are not run by the suite")
	}
	if caps := csc.Capabilities; caps == nil || !slices.Contains(caps.Drop, "ALL") || len(caps.Add) > 0 {
		return fmt.Errorf("capabilities other than drop ALL are not run by the suite")
	}
	s.UID, s.GID = uint32(uid), uint32(gid)
	if psc.FSGroup != nil {
		s.Groups = append(s.Groups, uint32(*psc.FSGroup))
	}
	for _, g := range psc.SupplementalGroups {
		s.Groups = append(s.Groups, uint32(g))
	}
	s.ReadOnlyRoot = ptr.Deref(csc.ReadOnlyRootFilesystem, false)
	s.NoNewPrivs = !ptr.Deref(csc.AllowPrivilegeEscalation, true)
	return nil
}

func (k *kubelet) etcHosts(pod *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "127.0.0.1\tlocalhost\n%s\t%s\n", podIP, pod.Name)
	names := make([]string, 0, len(k.hosts))
	for n := range k.hosts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s\t%s\n", k.hosts[n], n)
	}
	return b.String()
}
