package sqlite_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// A sub-day rollup built while writers create and delete events counts every
// committed event once: its snapshot is taken between two commits, and the
// commits after it reach the rollup through the cube.
func TestSubDayRollupBuiltDuringWrites(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal"})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC) // across Berlin's DST end
	event := func(rng *rand.Rand) tally.Event {
		return tally.Event{ID: tally.NewID(), DeviceType: tally.DeviceType(rng.IntN(4)), Category: tally.NoCategory,
			Client: int32(rng.IntN(5)), ClientGroup: 1, Valid: true,
			Timestamp: start.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour)))).Truncate(time.Second),
			Value:     tally.DecimalFromMicros(int64(rng.IntN(1_000_000)) * 10_000)}
	}
	var (
		mu   sync.Mutex
		live = map[tally.ID]tally.Event{}
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var first []tally.Event
	for range 2000 {
		first = append(first, event(rng))
	}
	if _, err := s.CreateEvents(ctx, first); err != nil {
		t.Fatal(err)
	}
	for _, e := range first {
		live[e.ID] = e
	}

	queries := []tally.ReportQuery{
		{GroupBy: []tally.Column{tally.ColDate, tally.ColDeviceType}, Granularity: tally.Hour, Location: berlin},
		{GroupBy: []tally.Column{tally.ColClient}, Location: berlin,
			Filter: tally.Filter{From: time.Date(2026, 10, 22, 0, 0, 0, 0, berlin), To: time.Date(2026, 10, 27, 0, 0, 0, 0, berlin)}},
	}
	for i := range queries {
		if err := queries[i].Normalize(); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 150 {
				e := event(rng)
				if err := s.CreateEvent(ctx, e); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				live[e.ID] = e
				var victim tally.ID
				if rng.IntN(3) == 0 {
					for id := range live {
						victim = id
						break
					}
					delete(live, victim)
				}
				mu.Unlock()
				if victim != (tally.ID{}) {
					if err := s.DeleteEvent(ctx, victim); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	for _, q := range queries { // builds the rollups while the writers write
		if _, err := s.Report(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()

	for _, q := range queries {
		a := tally.NewAggregator(&q)
		for _, e := range live {
			a.Add(tally.KeyOf(&e, 1), 1, e.Value)
		}
		got, err := s.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a.Report(), got); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", q.GroupBy, diff)
		}
	}
}
