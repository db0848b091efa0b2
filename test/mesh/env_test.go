package mesh

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// env is the container's environment as the kubelet builds it: the
// kubernetes service's variables, then the container's own in order, each
// value with $(VAR) expanded from the ones before it and each fieldRef read
// from the stored pod. It returns the list for exec and the map.
func (k *kubelet) env(pod *corev1.Pod, vars []corev1.EnvVar) ([]string, map[string]string, error) {
	host, port := k.server.Hostname(), k.server.Port()
	m := map[string]string{
		"KUBERNETES_SERVICE_HOST":       host,
		"KUBERNETES_SERVICE_PORT":       port,
		"KUBERNETES_SERVICE_PORT_HTTPS": port,
		"KUBERNETES_PORT":               "tcp://" + host + ":" + port,
	}
	order := []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_PORT_HTTPS", "KUBERNETES_PORT"}
	for _, v := range vars {
		var value string
		switch {
		case v.ValueFrom == nil:
			value = expand(v.Value, m)
		case v.ValueFrom.FieldRef != nil:
			var err error
			if value, err = fieldRef(pod, v.ValueFrom.FieldRef.FieldPath); err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", v.Name, err)
			}
		default:
			return nil, nil, fmt.Errorf("env %s: only values and fieldRefs are run by the suite", v.Name)
		}
		if _, seen := m[v.Name]; !seen {
			order = append(order, v.Name)
		}
		m[v.Name] = value
	}
	list := make([]string, len(order))
	for i, name := range order {
		list[i] = name + "=" + m[name]
	}
	return list, m, nil
}

// fieldRef reads the downward API field path from pod, as the kubelet's
// podFieldSelectorRuntimeValue does for the paths it supports.
func fieldRef(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// expand replaces $(VAR) with the value of VAR when it is defined and leaves
// it as is otherwise; $$ is a literal $. These are the kubelet's rules
// (third_party/forked/golang/expansion).
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"POD_NAMESPACE": "gw", "EMPTY": ""}
	tests := map[string]struct{ in, want string }{
		"a defined variable is replaced":       {"$(POD_NAMESPACE).svc.cluster.local", "gw.svc.cluster.local"},
		"an empty variable is replaced":        {"a$(EMPTY)b", "ab"},
		"an undefined variable stays as is":    {"$(NOPE)/x", "$(NOPE)/x"},
		"$$ is a literal dollar":               {"$$(POD_NAMESPACE)", "$(POD_NAMESPACE)"},
		"a lone dollar stays":                  {"cost $5 $", "cost $5 $"},
		"an unclosed reference stays as is":    {"x$(POD_NAMESPACE", "x$(POD_NAMESPACE"},
		"references next to each other expand": {"$(POD_NAMESPACE)$(POD_NAMESPACE)", "gwgw"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, expand(tc.in, vars)); diff != "" {
				t.Errorf("expand(%q) (-want,+got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestFieldRef(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", Labels: map[string]string{"app": "gw"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "sa"},
		Status:     corev1.PodStatus{PodIP: "10.0.0.1", HostIP: "10.0.0.2"},
	}
	got := map[string]string{}
	for _, path := range []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.serviceAccountName",
		"status.podIP", "status.hostIP", "metadata.labels['app']"} {
		v, err := fieldRef(pod, path)
		if err != nil {
			t.Fatalf("fieldRef(%q): %v", path, err)
		}
		got[path] = v
	}
	want := map[string]string{"metadata.name": "p", "metadata.namespace": "ns", "metadata.uid": "u",
		"spec.serviceAccountName": "sa", "status.podIP": "10.0.0.1", "status.hostIP": "10.0.0.2", "metadata.labels['app']": "gw"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fieldRef (-want,+got):\n%s", diff)
	}
	if _, err := fieldRef(pod, "spec.nope"); err == nil {
		t.Errorf("fieldRef(spec.nope) = nil error, want an error")
	}
}

func TestIdentity(t *testing.T) {
	drop := &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	pod := &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](10101), FSGroup: ptr.To[int64](10101), SupplementalGroups: []int64{5}}
	tests := map[string]struct {
		pod     *corev1.PodSecurityContext
		c       *corev1.SecurityContext
		want    containerSpec
		wantErr bool
	}{
		"the container's user and group win over the pod's": {
			pod: pod,
			c: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1337), RunAsGroup: ptr.To[int64](1337), Capabilities: drop,
				ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
			want: containerSpec{UID: 1337, GID: 1337, Groups: []uint32{10101, 5}, ReadOnlyRoot: true, NoNewPrivs: true},
		},
		"without runAsGroup the gid is 0 and the pod's user applies": {
			pod:  pod,
			c:    &corev1.SecurityContext{Capabilities: drop},
			want: containerSpec{UID: 10101, GID: 0, Groups: []uint32{10101, 5}},
		},
		"runAsNonRoot with uid 0 is refused": {
			c:       &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), Capabilities: drop},
			wantErr: true,
		},
		"capabilities not dropped are refused": {
			pod:     pod,
			c:       &corev1.SecurityContext{},
			wantErr: true,
		},
		"added capabilities are refused": {
			pod:     pod,
			c:       &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_ADMIN"}}},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got containerSpec
			err := identity(&got, tc.pod, tc.c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("identity() error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("identity() (-want,+got):\n%s", diff)
			}
		})
	}
}
