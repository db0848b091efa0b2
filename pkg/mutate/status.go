package mutate

import (
	"encoding/json"
)

// StatusAnnotation records what gatemesh added to a pod, so that the pod can
// be recognised as injected and the injection removed later.
const StatusAnnotation = "gatemesh.io/status"

// IstioInjectAnnotation is set to "false" on injected pods so that Istio's
// own injector does not add a second istio-proxy container, a known
// crash-loop.
const IstioInjectAnnotation = "sidecar.istio.io/inject"

// statusVersion is the version of the status annotation's format.
const statusVersion = 1

// Status is the value of the status annotation, as JSON.
type Status struct {
	// Version of this format; 1.
	Version int `json:"version"`
	// Containers gatemesh added, by name.
	Containers []string `json:"containers"`
	// Volumes gatemesh added, by name.
	Volumes []string `json:"volumes"`
	// Annotations gatemesh set, by key (other than this one).
	Annotations []string `json:"annotations"`
}

// ParseStatus reads the status annotation from annotations. It returns false
// when the annotation is absent or not a status gatemesh wrote; gatemesh then
// claims nothing in the pod as its own.
func ParseStatus(annotations map[string]string) (Status, bool) {
	raw, ok := annotations[StatusAnnotation]
	if !ok {
		return Status{}, false
	}
	var s Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Version != statusVersion {
		return Status{}, false
	}
	return s, true
}

func (s Status) String() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic("internal error: status does not marshal: " + err.Error())
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
