package cube_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// loadCube fills a cube with n events shaped like the generator's: 90 days,
// 4 device types, 33 categories, 128 clients in 16 fixed groups, 80% valid.
func loadCube(n int) (*cube.Cube, int64) {
	rng := rand.New(rand.NewPCG(1, 1))
	c := cube.New()
	today := time.Now().UTC().Truncate(24*time.Hour).Unix() / tally.SecondsPerDay
	for range n {
		client := int32(rng.IntN(128))
		k := tally.CellKey{
			Bucket:      (today - 1 - int64(rng.IntN(90))) * tally.SecondsPerDay,
			DeviceType:  tally.DeviceType(rng.IntN(4)),
			Category:    tally.Category(rng.IntN(33)),
			Client:      client,
			ClientGroup: client % 16,
			Valid:       rng.IntN(5) != 0,
		}
		if k.Category == 32 {
			k.Category = tally.NoCategory
		}
		c.Add(k, 1, tally.DecimalFromMicros(int64(rng.IntN(10001))*10_000))
	}
	return c, today
}

// The six standard reports of the benchmark in BENCHMARKS.md.
func standardQueries(today int64) map[string]tally.ReportQuery {
	day := func(back int64) time.Time { return time.Unix((today-back)*tally.SecondsPerDay, 0).UTC() }
	valid := true
	return map[string]tally.ReportQuery{
		"Q1-default": {Limit: 100},
		"Q2-date-30d": {GroupBy: []tally.Column{tally.ColDate}, Limit: 100,
			Filter: tally.Filter{From: day(30), To: day(0)}},
		"Q3-date-client-10clients-30d": {GroupBy: []tally.Column{tally.ColDate, tally.ColClient},
			OrderBy: []tally.Order{{Column: tally.ColDate, Desc: true}}, Limit: 100,
			Filter: tally.Filter{From: day(30), To: day(0), Clients: []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}},
		"Q4-device-valid": {GroupBy: []tally.Column{tally.ColDeviceType, tally.ColValid}, Limit: 100},
		"Q5-group-category-valid-7d": {GroupBy: []tally.Column{tally.ColClientGroup, tally.ColCategory}, Limit: 100,
			Filter: tally.Filter{From: day(7), To: day(0), Valid: &valid}},
		"Q6-client-page": {GroupBy: []tally.Column{tally.ColClient},
			OrderBy: []tally.Order{{Column: tally.ColClient}}, Offset: 50, Limit: 20},
	}
}

func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		c, today := loadCube(n)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("%d events: heap %d MiB", n, ms.HeapAlloc>>20)
		for name, q := range standardQueries(today) {
			if err := q.Normalize(); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/events=%d", name, n), func(b *testing.B) {
				c.Report(&q) // the first report of a shape builds its projections
				for b.Loop() {
					if _, ok := c.Report(&q); !ok {
						b.Fatal("not served")
					}
				}
			})
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	c, today := loadCube(1_000_000)
	rng := rand.New(rand.NewPCG(2, 2))
	b.ResetTimer()
	for b.Loop() {
		client := int32(rng.IntN(128))
		c.Add(tally.CellKey{Bucket: (today - 1 - int64(rng.IntN(90))) * tally.SecondsPerDay,
			DeviceType: tally.DeviceType(rng.IntN(4)), Category: tally.Category(rng.IntN(32)),
			Client: client, ClientGroup: client % 16, Valid: true}, 1, tally.DecimalFromMicros(1_500_000))
	}
}
