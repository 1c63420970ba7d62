package bench

import (
	"math"
	"slices"
	"time"
)

// Latencies summarises a set of timings.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
}

// Summarize returns the nearest-rank 50th and 99th percentiles of ds (which
// it sorts). With fewer than 100 timings the 99th percentile is the slowest.
func Summarize(ds []time.Duration) Latencies {
	slices.Sort(ds)
	return Latencies{N: len(ds), P50: Percentile(ds, 50), P99: Percentile(ds, 99), Max: Percentile(ds, 100)}
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted: the smallest timing that at least p% of them do not exceed. It is
// always one of the timings, never an interpolation. Zero for no timings.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
