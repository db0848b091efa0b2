package main

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	// memoryLimitEnv is the container's memory limit in bytes, as the
	// Deployment passes it with a resourceFieldRef to limits.memory.
	memoryLimitEnv = "GATEMESH_MEMORY_LIMIT"
	// goMemLimitEnv is the Go runtime's own setting, which wins.
	goMemLimitEnv = "GOMEMLIMIT"
	// memoryLimitPercent of the container's limit is the Go runtime's soft
	// limit: the garbage collector works harder as the heap nears it,
	// leaving the rest for what the Go runtime does not count (stacks of
	// goroutines it has not yet freed, the kernel's page cache charged to
	// the container) before the kernel's OOM killer acts.
	memoryLimitPercent = 90
)

// memoryLimit is the soft memory limit serve sets, from the values of
// GOMEMLIMIT and GATEMESH_MEMORY_LIMIT: 0 (leave the runtime's own) when
// GOMEMLIMIT is set, which the runtime has already applied, or when
// GATEMESH_MEMORY_LIMIT is not; otherwise 90% of GATEMESH_MEMORY_LIMIT,
// a byte count as Kubernetes renders limits.memory, or a quantity such as
// 256Mi.
func memoryLimit(goMemLimit, containerLimit string) (int64, error) {
	if goMemLimit != "" || containerLimit == "" {
		return 0, nil
	}
	b, err := strconv.ParseInt(containerLimit, 10, 64)
	if err != nil {
		q, qerr := resource.ParseQuantity(containerLimit)
		if qerr != nil {
			return 0, fmt.Errorf("%s=%q must be a number of bytes: %w", memoryLimitEnv, containerLimit, qerr)
		}
		var ok bool
		if b, ok = q.AsInt64(); !ok {
			b = 0
		}
	}
	if b <= 0 {
		return 0, fmt.Errorf("%s=%q must be a positive whole number of bytes", memoryLimitEnv, containerLimit)
	}
	return b/100*memoryLimitPercent + b%100*memoryLimitPercent/100, nil
}
