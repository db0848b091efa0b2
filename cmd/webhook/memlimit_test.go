package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMemoryLimit(t *testing.T) {
	cases := map[string]struct {
		goMemLimit, containerLimit string
		want                       int64
		wantErr                    string
	}{
		"neither set: the runtime's own (none)":      {},
		"GOMEMLIMIT set: the runtime has applied it": {goMemLimit: "200MiB", containerLimit: "268435456"},
		"256Mi as resourceFieldRef renders it":       {containerLimit: "268435456", want: 241591910},
		"a byte count that 100 divides":              {containerLimit: "1000", want: 900},
		"a quantity, as a person might write it":     {containerLimit: "256Mi", want: 241591910},
		"the largest byte count does not overflow":   {containerLimit: "9223372036854775807", want: 8301034833169298226},
		"one byte":             {containerLimit: "1", want: 0},
		"not a number":         {containerLimit: "lots", wantErr: "GATEMESH_MEMORY_LIMIT=\"lots\" must be a number of bytes"},
		"zero":                 {containerLimit: "0", wantErr: "must be a positive whole number"},
		"negative":             {containerLimit: "-5", wantErr: "must be a positive whole number"},
		"a fraction of a byte": {containerLimit: "0.5", wantErr: "must be a positive whole number"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := memoryLimit(tc.goMemLimit, tc.containerLimit)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("limit (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestServeReadsTheMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GATEMESH_MEMORY_LIMIT", "268435456")
	code, _, stderr, o := runCmd(t, "", "serve")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if o.MemoryLimit != 241591910 {
		t.Errorf("memory limit %d, want 90%% of 256Mi", o.MemoryLimit)
	}
	t.Setenv("GATEMESH_MEMORY_LIMIT", "lots")
	if code, _, stderr, _ := runCmd(t, "", "serve"); code != 1 || !strings.Contains(stderr, "GATEMESH_MEMORY_LIMIT") {
		t.Errorf("exit %d, %q; want a refusal naming the variable", code, stderr)
	}
}
