package mongo_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
)

// On FerretDB these measure FerretDB (a SQLite-backed translator that scans
// most queries), not MongoDB: run them with TALLY_TEST_MONGODB_URI set for
// MongoDB figures.
//
//	go test -run '^$' -bench . -benchtime 3x ./mongo/

// benchEvents spreads n events over 30 days, 32 clients and 10 categories.
func benchEvents(seed uint64, n int) []tally.Event {
	r := rand.New(rand.NewPCG(seed, 2))
	evs := make([]tally.Event, n)
	for i := range evs {
		evs[i] = tally.Event{
			ID:          tally.NewID(),
			DeviceType:  tally.DeviceType(r.IntN(4)),
			Category:    tally.CategoryOf(int32(r.IntN(10))),
			Client:      int32(r.IntN(32)),
			ClientGroup: int32(r.IntN(4)),
			Timestamp:   day0.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Microsecond),
			Valid:       r.IntN(10) > 0,
			Value:       tally.DecimalFromMicros(int64(r.IntN(10000)) * 10_000),
		}
	}
	return evs
}

func BenchmarkIngestBatches(b *testing.B) {
	s := openBenchStore(b, mongotest.URI(b))
	seed := uint64(0)
	for b.Loop() {
		seed++
		if _, err := s.CreateEvents(context.Background(), benchEvents(seed, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkIngestConcurrentSingles(b *testing.B) {
	s := openBenchStore(b, mongotest.URI(b))
	b.SetParallelism(8) // 8×GOMAXPROCS callers, as many HTTP clients would be
	b.RunParallel(func(pb *testing.PB) {
		evs := benchEvents(rand.Uint64(), 1)
		for pb.Next() {
			evs[0].ID = tally.NewID()
			if err := s.CreateEvent(context.Background(), evs[0]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReport compares reading matching cells into the Aggregator (what
// the store does) with the server-side alternative FerretDB can compute
// correctly: a $group with ONE $sum, run twice (count, then sum).
func BenchmarkReport(b *testing.B) {
	const n = 5000
	uri := mongotest.URI(b)
	s := openBenchStore(b, uri)
	evs := benchEvents(42, n)
	for i := 0; i < n; i += 1000 {
		if _, err := s.CreateEvents(context.Background(), evs[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	db := mongotest.Client(b, uri).Database(dbName(uri))
	var cells int64
	cells, _ = db.Collection("cells").CountDocuments(context.Background(), bson.D{})
	b.Logf("%d events in %d cells", n, cells)

	queries := map[string]tally.ReportQuery{
		"default_page":       {Limit: 100},
		"by_client":          {GroupBy: []tally.Column{tally.ColClient}},
		"by_day_for_clients": {GroupBy: []tally.Column{tally.ColDate}, Filter: tally.Filter{Clients: []int32{1, 2, 3}}},
		"by_month":           {GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Month},
		"hour_raw_events":    {GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Hour},
	}
	for name, q := range queries {
		if err := q.Normalize(); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Report(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("by_client_group_pipeline_x2", func(b *testing.B) {
		for b.Loop() {
			for _, field := range []string{"$count", "$sum"} {
				cur, err := db.Collection("cells").Aggregate(context.Background(), bson.A{
					bson.D{{Key: "$match", Value: bson.D{}}},
					bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "client", Value: "$client"}}},
						{Key: "v", Value: bson.D{{Key: "$sum", Value: field}}}}}},
				})
				if err != nil {
					b.Fatal(err)
				}
				var rows []bson.M
				if err := cur.All(context.Background(), &rows); err != nil {
					b.Fatal(err)
				}
				if len(rows) != 32 {
					b.Fatalf("%d rows, want 32", len(rows))
				}
			}
		}
	})
}

func openBenchStore(b *testing.B, uri string) *mongo.Store {
	b.Helper()
	s, err := mongo.Open(context.Background(), uri)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
