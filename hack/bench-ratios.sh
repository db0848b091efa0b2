#!/usr/bin/env bash
# bench-ratios.sh: the pod handler against its decode/encode floor, measured
# side by side. Each round runs the four benchmarks once, back to back, in one
# process, so a round's ratios see the same machine load; the medians of the
# rounds' ratios are the figures docs/performance.md records.
#
# usage: hack/bench-ratios.sh [ROUNDS]   (default 7)
set -euo pipefail
rounds=${1:-7}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bin"
go test -c -o "$root/bin/admit.test" "$root/pkg/admit"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cd "$root/pkg/admit" # the benchmarks read testdata/
printf '%-6s %10s %10s %7s %12s %12s %7s %7s\n' round floor pod ratio floorLarge podLarge ratio allocs
for i in $(seq "$rounds"); do
  "$root/bin/admit.test" -test.run '^$' -test.bench '^Benchmark(Floor|PodHandler|FloorLarge|PodHandlerLarge)$' \
    -test.benchmem -test.count 1 |
    awk -v r="$i" '/^Benchmark/ { sub(/-[0-9]+$/, "", $1); ns[$1] = $3; al[$1] = $9 }
      END {
        a = ns["BenchmarkPodHandler"] / ns["BenchmarkFloor"]; b = ns["BenchmarkPodHandlerLarge"] / ns["BenchmarkFloorLarge"]
        printf "%-6d %8.0fns %8.0fns %6.2fx %10.0fns %10.0fns %6.2fx %7d\n", r, ns["BenchmarkFloor"], ns["BenchmarkPodHandler"], a,
          ns["BenchmarkFloorLarge"], ns["BenchmarkPodHandlerLarge"], b, al["BenchmarkPodHandler"]
      }' | tee -a "$out"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
small=$(awk '{ sub(/x$/, "", $4); print $4 }' "$out" | median)
large=$(awk '{ sub(/x$/, "", $7); print $7 }' "$out" | median)
echo "median of $rounds rounds: pod/floor ${small}x (target <= 3x), podLarge/floorLarge ${large}x (target <= 2x)"
