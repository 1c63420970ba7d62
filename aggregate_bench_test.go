package tally_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tallyhq/tally"
)

// benchCells returns n rollup cells of one UTC day shaped like the
// generator's traffic (90 days, 4 device types, 33 categories, 128 clients
// in 16 groups, 80% valid) in day order, and the end of their days.
func benchCells(n int) ([]tally.Row, time.Time) {
	rng := rand.New(rand.NewPCG(5, 6))
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cells := make([]tally.Row, n)
	for i := range cells {
		client := int32(rng.IntN(128)) + 1
		cat := tally.Category(rng.IntN(33))
		if cat == 32 {
			cat = tally.NoCategory
		}
		cells[i] = tally.Row{Key: tally.CellKey{
			Bucket:      end.Unix() - int64(1+rng.IntN(90))*tally.SecondsPerDay,
			DeviceType:  tally.DeviceType(rng.IntN(4)),
			Category:    cat,
			Client:      client,
			ClientGroup: client%16 + 1,
			Valid:       rng.IntN(5) != 0,
		}, Count: int64(1 + rng.IntN(3)), Sum: tally.DecimalFromMicros(int64(rng.IntN(30000)) * 10_000)}
	}
	// Stores feed cells clustered by day, as their tables and the cube keep
	// them.
	slices.SortFunc(cells, func(x, y tally.Row) int { return cmp.Compare(x.Key.Bucket, y.Key.Bucket) })
	return cells, end
}

// BenchmarkAggregator folds 100,000 day cells into the six standard reports
// of BENCHMARKS.md, and the default one in a time zone, which no rollup
// index serves: the cost of the one report engine every store falls back on.
func BenchmarkAggregator(b *testing.B) {
	cells, end := benchCells(100_000)
	day := func(back int) time.Time { return end.AddDate(0, 0, -back) }
	valid := true
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		q        tally.ReportQuery
		distinct bool // every dimension grouped by day: the bounded top-k
	}{
		{"Q1-default", tally.ReportQuery{Limit: 100}, true},
		{"Q2-date-30d", tally.ReportQuery{GroupBy: []tally.Column{tally.ColDate}, Limit: 100,
			Filter: tally.Filter{From: day(30), To: end}}, false},
		{"Q3-date-client-10clients-30d", tally.ReportQuery{GroupBy: []tally.Column{tally.ColDate, tally.ColClient},
			OrderBy: []tally.Order{{Column: tally.ColDate, Desc: true}}, Limit: 100,
			Filter: tally.Filter{From: day(30), To: end, Clients: []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}}, false},
		{"Q4-device-valid", tally.ReportQuery{GroupBy: []tally.Column{tally.ColDeviceType, tally.ColValid}, Limit: 100}, false},
		{"Q5-group-category-valid-7d", tally.ReportQuery{GroupBy: []tally.Column{tally.ColClientGroup, tally.ColCategory}, Limit: 100,
			Filter: tally.Filter{From: day(7), To: end, Valid: &valid}}, false},
		{"Q6-client-page", tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient},
			OrderBy: []tally.Order{{Column: tally.ColClient}}, Offset: 50, Limit: 20}, false},
		{"default-by-week-Berlin", tally.ReportQuery{Limit: 100, Granularity: tally.Week, Location: berlin}, false},
	} {
		q := bc.q
		if err := q.Normalize(); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var rows int
			for b.Loop() {
				a := tally.NewAggregator(&q)
				if bc.distinct {
					a = tally.NewDistinctAggregator(&q)
				}
				for i := range cells {
					a.Add(cells[i].Key, cells[i].Count, cells[i].Sum)
				}
				rows = a.Report().TotalCount
			}
			b.ReportMetric(float64(rows), "groups")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cells)), "ns/cell")
		})
	}
}
