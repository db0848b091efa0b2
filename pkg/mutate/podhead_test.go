package mutate

import (
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
)

// ignoreAgentOnly leaves out what the default decoding cannot compute:
// whether istio-proxy runs the agent alone (TestPodHeadAgentOnly).
var ignoreAgentOnly = cmpopts.IgnoreUnexported(nameOnly{})

// plainHead has PodHead's fields without its UnmarshalJSONFrom, so it
// decodes the way json v2 decodes by default: the behaviour PodHead's fast
// decoding must match.
type plainHead struct {
	Metadata *PodHeadMeta `json:"metadata"`
	Spec     *PodHeadSpec `json:"spec"`
}

// plainElements is podElements without its UnmarshalJSONFrom.
type plainElements struct {
	Spec struct {
		Containers []jsontext.Value `json:"containers"`
		Volumes    []jsontext.Value `json:"volumes"`
	} `json:"spec"`
}

// checkElements compares podElements' fast decoding with the default one.
func checkElements(t *testing.T, raw []byte) {
	t.Helper()
	var fast podElements
	var plain plainElements
	fastErr := json.Unmarshal(raw, &fast, DecodeOptions())
	plainErr := json.Unmarshal(raw, &plain, DecodeOptions())
	if (fastErr == nil) != (plainErr == nil) {
		t.Fatalf("elements of %q: fast error %v, default error %v", raw, fastErr, plainErr)
	}
	if diff := cmp.Diff(podElements(plain), fast); fastErr == nil && diff != "" {
		t.Fatalf("elements of %q (-default,+fast):\n%s", raw, diff)
	}
}

func decodeBoth(raw []byte) (fast PodHead, fastErr error, plain PodHead, plainErr error) {
	fastErr = json.Unmarshal(raw, &fast, DecodeOptions())
	var p plainHead
	plainErr = json.Unmarshal(raw, &p, DecodeOptions())
	return fast, fastErr, PodHead(p), plainErr
}

var podHeadCases = []string{
	`{"metadata":{"name":"p","labels":{"a":"1"},"annotations":{"x":"y"},"managedFields":[{"f":{"g":1}}]},` +
		`"spec":{"containers":[{"name":"c","env":[{"name":"E","value":"v"}]},{"name":"d"}],"volumes":[{"name":"v","emptyDir":{}}]}}`,
	`{"metadata":null,"spec":null}`,
	`{"metadata":{"labels":null,"annotations":null},"spec":{"containers":null,"volumes":[]}}`,
	`{"metadata":{"annotations":{}},"spec":{}}`,
	`{"spec":{"containers":[null,{"name":null},{}]}}`,
	`{"meta\u0064ata":{"l\u0061bels":{"a":"1"}},"Metadata":{"labels":{"b":"2"}}}`,
	`{"metadata":{"labels":{"a":"1"}},"metadata":{"labels":{"b":"2"}}}`,
	`{"spec":{"containers":[{"name":"a"}]},"spec":{"containers":[{"name":"b"}]}}`,
	`{"metadata":{"labels":{"a":"1"}},"metadata":null}`,
	`null`,
	`{}`,
	`{"metadata":5}`,
	`{"metadata":{"labels":5}}`,
	`{"spec":{"containers":{}}}`,
	`{"spec":{"containers":[5]}}`,
	`{"spec":{"containers":[{"name":5}]}}`,
	`{"metadata":{"labels":{"a":1}}}`,
	`{"metadata":{`,
	`{"metadata":{}}}`,
	`{"metadata":{}} {}`,
	`[]`,
	``,
	"{\"m\xffetadata\":{},\"spec\":{\"containers\":[{\"name\":\"\xff\"}]}}",
}

// TestPodHeadMatchesDefaultDecoding checks PodHead's and podElements' fast
// decoding against json v2's default decoding of the same fields.
func TestPodHeadMatchesDefaultDecoding(t *testing.T) {
	for _, in := range podHeadCases {
		fast, fastErr, plain, plainErr := decodeBoth([]byte(in))
		if (fastErr == nil) != (plainErr == nil) {
			t.Errorf("%s: fast error %v, default error %v", in, fastErr, plainErr)
			continue
		}
		if diff := cmp.Diff(plain, fast, ignoreAgentOnly); fastErr == nil && diff != "" {
			t.Errorf("%s: (-default,+fast):\n%s", in, diff)
		}
		checkElements(t, []byte(in))
	}
}

// FuzzPodHead checks PodHead's (and podElements') fast decoding against
// json v2's default decoding on arbitrary input: they must fail together, and decode the same
// head when they succeed.
func FuzzPodHead(f *testing.F) {
	for _, in := range podHeadCases {
		f.Add([]byte(in))
	}
	for _, in := range goldenPodInputs(f) {
		f.Add(in.json)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, fastErr, plain, plainErr := decodeBoth(raw)
		if (fastErr == nil) != (plainErr == nil) {
			t.Fatalf("fast error %v, default error %v", fastErr, plainErr)
		}
		if diff := cmp.Diff(plain, fast, ignoreAgentOnly); fastErr == nil && diff != "" {
			t.Fatalf("(-default,+fast):\n%s", diff)
		}
		checkElements(t, raw)
	})
}

// TestPodHeadAgentOnly checks that the head reads DISABLE_ENVOY=true of an
// istio-proxy container, its env before or after its name, as the typed
// container reads it (its last DISABLE_ENVOY, a value and not valueFrom).
func TestPodHeadAgentOnly(t *testing.T) {
	cases := map[string]struct {
		container string
		want      bool
	}{
		"name first":                 {`{"name":"istio-proxy","env":[{"name":"DISABLE_ENVOY","value":"true"}]}`, true},
		"env first, as sorted keys":  {`{"env":[{"name":"A","value":"1"},{"name":"DISABLE_ENVOY","value":"true"}],"name":"istio-proxy"}`, true},
		"an escaped name":            {`{"env":[{"name":"DISABLE\u005fENVOY","value":"true"}],"name":"istio-proxy"}`, true},
		"false":                      {`{"name":"istio-proxy","env":[{"name":"DISABLE_ENVOY","value":"false"}]}`, false},
		"the last one decides":       {`{"name":"istio-proxy","env":[{"name":"DISABLE_ENVOY","value":"true"},{"name":"DISABLE_ENVOY","value":"1"}]}`, false},
		"valueFrom is not a value":   {`{"name":"istio-proxy","env":[{"name":"DISABLE_ENVOY","value":"true","valueFrom":{"fieldRef":{"fieldPath":"x"}}}]}`, false},
		"valueFrom null":             {`{"name":"istio-proxy","env":[{"name":"DISABLE_ENVOY","value":"true","valueFrom":null}]}`, true},
		"absent":                     {`{"name":"istio-proxy","env":[{"name":"OUTPUT_CERTS","value":"/etc/istio-certs"}]}`, false},
		"no env":                     {`{"name":"istio-proxy"}`, false},
		"env is no list of env vars": {`{"name":"istio-proxy","env":{"DISABLE_ENVOY":"true"}}`, false},
		"a second env replaces it":   {`{"name":"istio-proxy","env":[{"name":"DISABLE_ENVOY","value":"true"}],"env":[]}`, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			raw := []byte(`{"spec":{"containers":[` + tc.container + `]}}`)
			head, err := DecodePodHead(raw)
			if err != nil {
				t.Fatal(err)
			}
			got := (*head.Spec.Containers)[0].agentOnly
			if got != tc.want {
				t.Errorf("agentOnly = %v, want %v", got, tc.want)
			}
			// The typed pod, with an sds container, reads the same (a pod
			// whose env does not decode has no typed form).
			var typed corev1.Pod
			if err := json.Unmarshal(raw, &typed, DecodeOptions()); err == nil {
				typed.Spec.Containers = append(typed.Spec.Containers, corev1.Container{Name: SDSName})
				if typedGot := PodFactsOf(&typed.ObjectMeta, &typed.Spec).DeployerSidecars; typedGot != tc.want {
					t.Errorf("typed: deployer sidecars = %v, want %v", typedGot, tc.want)
				}
			}
		})
	}
}
