package storetest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics gathers c through a pedantic registry, which also checks that c
// describes what it collects, and returns its unlabelled metrics by name: a
// counter's or a gauge's value, and for a histogram name_count and name_sum.
func Metrics(tb testing.TB, c prometheus.Collector) map[string]float64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		tb.Fatalf("registering the store's metrics: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gathering the store's metrics: %v", err)
	}
	out := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) > 0 {
				continue
			}
			switch {
			case m.Counter != nil:
				out[f.GetName()] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[f.GetName()] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[f.GetName()+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}
