package api

import (
	"net/url"
	"testing"
	"time"
)

// BenchmarkParseReport measures turning GET /report's query string into a
// normalized ReportQuery, the work before any store is asked, for the
// standard reports of BENCHMARKS.md.
func BenchmarkParseReport(b *testing.B) {
	for _, bc := range []struct{ name, query string }{
		{"Q1-default", ""},
		{"Q3-date-client-10clients-30d", "group_by=date+client&order_by=-date&clients=1+2+3+4+5+6+7+8+9+10&start_date=2025-12-02&end_date=2026-01-01"},
		{"Q5-group-category-valid-7d", "group_by=client_group+category&valid=true&start_date=2025-12-25&end_date=2026-01-01"},
		{"tz-week", "group_by=date+client&granularity=week&tz=Europe%2FBerlin&order_by=-count"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := url.ParseQuery(bc.query)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := parseReport(v, "application/json", time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
