package attack

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// deploymentFile is the shipped Deployment: the webhook runs with its
// memory limit, and must shut down within its grace period.
const deploymentFile = "manifests/base/deployment.yaml"

// shipped is what the Deployment sets for the webhook's process.
type shipped struct {
	// grace is the pod's terminationGracePeriodSeconds.
	grace time.Duration
	// preStop is the container's preStop sleep, which the kubelet runs
	// before SIGTERM, within the grace period.
	preStop time.Duration
	// shutdownDelay is --shutdown-delay from the container's args, or else
	// the binary's default.
	shutdownDelay string
	// memLimit is the container's memory limit in bytes.
	memLimit int64
	// memEnv are the variables the Deployment sets to the memory limit
	// with a resourceFieldRef (GATEMESH_MEMORY_LIMIT, or GOMEMLIMIT), each
	// with its value.
	memEnv []string
}

// readShipped reads the Deployment at path, and binary's default
// --shutdown-delay when the Deployment does not set one.
func readShipped(path, binary string) (shipped, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return shipped{}, fmt.Errorf("failed to read the Deployment: %w", err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		return shipped{}, fmt.Errorf("failed to decode %s: %w", path, err)
	}
	spec := d.Spec.Template.Spec
	if spec.TerminationGracePeriodSeconds == nil || len(spec.Containers) != 1 {
		return shipped{}, fmt.Errorf("%s: want terminationGracePeriodSeconds and one container", path)
	}
	c := spec.Containers[0]
	s := shipped{
		grace:    time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second,
		memLimit: c.Resources.Limits.Memory().Value(),
	}
	for _, e := range c.Env {
		ref := e.ValueFrom
		if ref == nil || ref.ResourceFieldRef == nil || ref.ResourceFieldRef.Resource != "limits.memory" {
			continue
		}
		v := s.memLimit
		if d := ref.ResourceFieldRef.Divisor.Value(); d > 0 {
			v /= d
		}
		s.memEnv = append(s.memEnv, e.Name+"="+strconv.FormatInt(v, 10))
	}
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		s.preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--shutdown-delay="); ok {
			s.shutdownDelay = v
		}
	}
	if s.shutdownDelay == "" {
		if s.shutdownDelay, err = defaultShutdownDelay(binary); err != nil {
			return shipped{}, err
		}
	}
	return s, nil
}

// defaultShutdownDelay reads --shutdown-delay's default from the binary's
// help: the flag's line, then its usage up to the next flag.
func defaultShutdownDelay(binary string) (string, error) {
	out, _ := exec.Command(binary, "serve", "-h").CombinedOutput()
	re := regexp.MustCompile(`\(default ([0-9a-z.]+)\)`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if !strings.Contains(sc.Text(), "-shutdown-delay") {
			continue
		}
		for sc.Scan() && !strings.HasPrefix(strings.TrimSpace(sc.Text()), "-") {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				return m[1], nil
			}
		}
		break
	}
	return "", fmt.Errorf("failed to find --shutdown-delay's default in `webhook serve -h`:\n%s", out)
}

// environ is the test's environment with the memory settings as the
// Deployment makes them: the variables it sets from the container's memory
// limit, and no GOGC.
func (s shipped) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "GOMEMLIMIT" && name != "GOGC" && name != "GATEMESH_MEMORY_LIMIT" {
			env = append(env, kv)
		}
	}
	return append(env, s.memEnv...)
}
