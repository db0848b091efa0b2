package policy

import (
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds of the policy's string fields, beyond what each field's grammar
// bounds already (DNS names 253, labels 63, label keys 317).
const (
	// MaxImageLength bounds an image reference: a repository name of at most
	// 255 characters, a tag of at most 128 and a sha512 digest fit.
	MaxImageLength = 528
	// MaxTokenLength bounds the free-form names gatemesh writes into Envoy
	// configuration and environment variables: Istio's cluster and mesh
	// IDs, SDS secret and cluster names, ALPN protocols.
	MaxTokenLength = 253
	// MaxComponentLogLevelLength bounds istioProxy.componentLogLevel.
	MaxComponentLogLevelLength = 1024
	// MaxListLength bounds the policy's lists: gateway proxy selectors and
	// ALPN protocols.
	MaxListLength = 32
)

// tokenPattern is the grammar of the free-form names: letters, digits and
// . _ : - , starting and ending with a letter or digit. Istio's cluster
// and mesh IDs, Envoy's SDS secret and cluster names and ALPN IDs as
// gateways use them (istio, h2, http/1.1 aside: see alpnPattern) all fit.
var (
	tokenPattern     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?$`)
	alpnPattern      = regexp.MustCompile(`^[!-~]+$`) // printable ASCII, no space
	componentPattern = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// validateHostPort accepts host:port with host a DNS name (case aside, an
// optional trailing dot) or an IP address, and port 1 to 65535.
func validateHostPort(p *field.Path, v string) field.ErrorList {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return field.ErrorList{field.Invalid(p, v, "must be host:port")}
	}
	var errs field.ErrorList
	if net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(strings.TrimSuffix(host, ".")))) > 0 {
		errs = append(errs, field.Invalid(p, v, "host must be a DNS name or IP address"))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, field.Invalid(p, v, "port must be a number from 1 to 65535"))
	}
	return errs
}

func validateLabelKey(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

// validateToken accepts a free-form name of tokenPattern, at most
// MaxTokenLength long.
func validateToken(p *field.Path, v string) field.ErrorList {
	switch {
	case v == "":
		return field.ErrorList{field.Required(p, "")}
	case len(v) > MaxTokenLength:
		return field.ErrorList{field.TooLong(p, "", MaxTokenLength)}
	case !tokenPattern.MatchString(v):
		return field.ErrorList{field.Invalid(p, v, "must be letters, digits and . _ : -, starting and ending with a letter or digit")}
	}
	return nil
}

// validateALPN accepts an ALPN protocol ID: printable ASCII without
// spaces, at most MaxTokenLength long (RFC 7301 allows 255 bytes).
func validateALPN(p *field.Path, v string) field.ErrorList {
	switch {
	case v == "":
		return field.ErrorList{field.Required(p, "")}
	case len(v) > MaxTokenLength:
		return field.ErrorList{field.TooLong(p, "", MaxTokenLength)}
	case !alpnPattern.MatchString(v) || strings.ContainsAny(v, `"\`):
		return field.ErrorList{field.Invalid(p, v, "must be printable ASCII without spaces, quotes or backslashes")}
	}
	return nil
}

// validateImage parses v as a container image reference, the way container
// runtimes do (github.com/distribution/reference): [registry/]path[:tag][@digest],
// a lowercase path, a tag of at most 128 characters, a digest of a known
// algorithm and length.
func validateImage(p *field.Path, v string) field.ErrorList {
	switch {
	case v == "":
		return field.ErrorList{field.Required(p, "")}
	case len(v) > MaxImageLength:
		return field.ErrorList{field.TooLong(p, "", MaxImageLength)}
	}
	if _, err := reference.ParseNormalizedNamed(v); err != nil {
		return field.ErrorList{field.Invalid(p, v, "must be an image reference such as docker.io/istio/proxyv2:1.28.0: "+err.Error())}
	}
	return nil
}

// validateSecurityContext refuses a sidecar securityContext that runs the
// container privileged, lets it gain privileges, or runs it as root,
// unless allowPrivileged is set. Fields left unset are the pod's or the
// image's to decide.
func validateSecurityContext(p *field.Path, sc *corev1.SecurityContext, allowPrivileged bool) field.ErrorList {
	if sc == nil || allowPrivileged {
		return nil
	}
	const hint = "; set allowPrivileged: true beside securityContext to allow it"
	var errs field.ErrorList
	if sc.Privileged != nil && *sc.Privileged {
		errs = append(errs, field.Forbidden(p.Child("privileged"), "a privileged sidecar is refused"+hint))
	}
	if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
		errs = append(errs, field.Forbidden(p.Child("allowPrivilegeEscalation"), "a sidecar that may gain privileges is refused"+hint))
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		errs = append(errs, field.Forbidden(p.Child("runAsUser"), "a sidecar running as root is refused"+hint))
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		errs = append(errs, field.Forbidden(p.Child("runAsNonRoot"), "a sidecar allowed to run as root is refused"+hint))
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
		errs = append(errs, field.Forbidden(p.Child("capabilities", "add"), "a sidecar with added capabilities is refused"+hint))
	}
	return errs
}
