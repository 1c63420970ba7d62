package sqlite_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// benchEvents makes n reproducible events over 90 days: 50 clients in 5
// groups, 10 categories and null, every device type.
func benchEvents(r *rand.Rand, n int) []tally.Event {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]tally.Event, n)
	for i := range events {
		var id tally.ID
		for j := range id {
			id[j] = byte(r.Uint32())
		}
		client := int32(r.IntN(50))
		cat := tally.Category(r.IntN(11))
		if cat == 10 {
			cat = tally.NoCategory
		}
		events[i] = tally.Event{
			ID: id, DeviceType: tally.DeviceType(r.IntN(4)), Category: cat,
			Client: client, ClientGroup: client % 5,
			Timestamp: start.Add(time.Duration(r.Int64N(90*24*3600*1e6)) * time.Microsecond),
			Valid:     r.IntN(4) != 0, Value: tally.DecimalFromMicros(int64(r.IntN(10000)) * 10_000),
		}
	}
	return events
}

// BenchmarkCreateEvents stores one batch of 10,000 new events per op.
func BenchmarkCreateEvents(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		b.Run(sync, func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "tally.db"), sqlite.Options{Synchronous: sync})
			r := rand.New(rand.NewPCG(1, 2))
			ctx := context.Background()
			const batch = 10_000
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				events := benchEvents(r, batch)
				b.StartTimer()
				if _, err := s.CreateEvents(ctx, events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReport answers reports over a store of TALLY_BENCH_EVENTS events
// (default 100,000), loaded once in batches of 10,000; the load's speed is
// logged. For the 1M figure:
//
//	TALLY_BENCH_EVENTS=1000000 go test ./sqlite -run '^$' -bench Report -benchtime 1x -benchmem -v
func BenchmarkReport(b *testing.B) {
	n := 100_000
	if v := os.Getenv("TALLY_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("TALLY_BENCH_EVENTS: %v", err)
		}
	}
	ctx := context.Background()
	s := mustOpen(b, filepath.Join(b.TempDir(), "tally.db"), sqlite.Options{})
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Now()
	for i := 0; i < n; i += 10_000 {
		if _, err := s.CreateEvents(ctx, benchEvents(r, min(10_000, n-i))); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d events in batches of 10,000 in %v: %.0f events/s",
		n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())

	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		q    tally.ReportQuery
	}{
		{"default", tally.ReportQuery{Limit: 100}},
		{"client by day, one week", tally.ReportQuery{GroupBy: []tally.Column{tally.ColDate, tally.ColClient}, Limit: 100,
			Filter: tally.Filter{From: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)}}},
		{"default in Berlin (raw events)", tally.ReportQuery{Limit: 100, Location: berlin}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := bc.q
			if err := q.Normalize(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var rows int
			for b.Loop() {
				rep, err := s.Report(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				rows = rep.TotalCount
			}
			b.ReportMetric(float64(rows), "groups")
		})
	}
}

// BenchmarkCreateEventConcurrent stores single events from 64 concurrent
// callers, as POST /event does; group commit lets them share commits.
func BenchmarkCreateEventConcurrent(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		b.Run(sync, func(b *testing.B) {
			var commits, callers atomic.Int64
			s := mustOpen(b, filepath.Join(b.TempDir(), "tally.db"), sqlite.Options{Synchronous: sync,
				CommitObserver: func(n int, _ time.Duration) { commits.Add(1); callers.Add(int64(n)) }})
			events := benchEvents(rand.New(rand.NewPCG(1, 2)), b.N)
			var next atomic.Int64
			ctx := context.Background()
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.CreateEvent(ctx, events[next.Add(1)-1]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(callers.Load())/float64(max(1, commits.Load())), "callers/commit")
		})
	}
}
