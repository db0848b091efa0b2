package scale

import (
	"bufio"
	"os"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// counter sums the samples of the counter (or gauge) name in
// controller-runtime's registry whose labels include want.
// baseline holds each counter series' value when the run began: the
// registry is the process's, so a second run (go test -count=2) would start
// where the first ended.
var baseline = map[string]float64{}

// resetCounters makes counter count from now.
func resetCounters() error {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return err
	}
	baseline = map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if c := m.GetCounter(); c != nil {
				have := map[string]string{}
				for _, l := range m.GetLabel() {
					have[l.GetName()] = l.GetValue()
				}
				baseline[series(f.GetName(), have)] = c.GetValue()
			}
		}
	}
	return nil
}

// series names one series of a metric.
func series(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name += "," + k + "=" + labels[k]
	}
	return name
}

func counter(name string, want map[string]string) (float64, error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue() - baseline[series(name, have)]
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum, nil
}

// peakRSS is the process's peak resident set (VmHWM), in bytes, or 0 when
// /proc does not say.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
