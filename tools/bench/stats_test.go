package bench_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/tools/bench"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{ms(7)}, 50, ms(7)},
		{"one p99", []time.Duration{ms(7)}, 99, ms(7)},
		{"two p50 is the lower", []time.Duration{ms(1), ms(2)}, 50, ms(1)},
		{"odd p50 is the middle", []time.Duration{ms(1), ms(2), ms(3)}, 50, ms(2)},
		{"hundred p50", hundred, 50, ms(50)},
		{"hundred p99", hundred, 99, ms(99)},
		{"hundred p100", hundred, 100, ms(100)},
		{"fifty p99 is the slowest", hundred[:50], 99, ms(50)},
		{"tiny p rounds up to the first", hundred, 0.001, ms(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bench.Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%d timings, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeSorts(t *testing.T) {
	ds := []time.Duration{ms(9), ms(1), ms(5), ms(3), ms(7)}
	want := bench.Latencies{N: 5, P50: ms(5), P99: ms(9), Max: ms(9)}
	if diff := cmp.Diff(want, bench.Summarize(ds)); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}
