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

func event(rng *rand.Rand) tally.Event {
	return tally.Event{
		ID:          tally.NewID(),
		DeviceType:  tally.DeviceType(rng.IntN(4)),
		Category:    tally.Category(rng.IntN(3)),
		Client:      int32(rng.IntN(5)),
		ClientGroup: 1,
		Timestamp:   time.Date(2026, 11, 1+rng.IntN(20), rng.IntN(24), 0, 0, 0, time.UTC),
		Valid:       rng.IntN(2) == 0,
		Value:       tally.DecimalFromMicros(int64(rng.IntN(400)) * 250_000),
	}
}

// Concurrent single-event writes share transactions, and each caller still
// gets its own outcome: created, or a conflict for an id already stored.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	maxGroup := 0
	s := mustOpen(t, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{
		CommitObserver: func(callers int, _ time.Duration) {
			mu.Lock()
			maxGroup = max(maxGroup, callers)
			mu.Unlock()
		},
	})
	const writers, each = 32, 20
	var wg sync.WaitGroup
	created := make([][]tally.Event, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0))
			for i := range each {
				e := event(rng)
				if i%5 == 4 { // resend an event this writer already stored
					e = created[w][rng.IntN(len(created[w]))]
					e.Value = tally.DecimalFromInt(1e6) // must not replace the stored one
					if err := s.CreateEvent(ctx, e); tally.ErrorCode(err) != tally.EConflict {
						t.Errorf("resend: %v, want conflict", err)
					}
					continue
				}
				if err := s.CreateEvent(ctx, e); err != nil {
					t.Errorf("CreateEvent: %v", err)
					continue
				}
				created[w] = append(created[w], e)
			}
		})
	}
	wg.Wait()
	var want tally.Totals
	for _, es := range created {
		for _, e := range es {
			want.Count++
			want.Sum = want.Sum.Add(e.Value)
			got, err := s.Event(ctx, e.ID)
			if err != nil || got.Value != e.Value {
				t.Errorf("Event(%s) = %v, %v; want value %s", e.ID, got.Value, err, e.Value)
			}
		}
	}
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColValid}}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals != want {
		t.Errorf("totals %+v, want %+v", r.Totals, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxGroup < 2 {
		t.Errorf("largest commit group %d: concurrent writes did not share a transaction", maxGroup)
	}
}

// The cube is rebuilt from the cells table at Open: after random writes and
// deletes, every report must be the same before and after reopening.
func TestReportsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	rng := rand.New(rand.NewPCG(3, 3))
	s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	var stored []tally.Event
	for range 40 {
		batch := make([]tally.Event, 25)
		for i := range batch {
			batch[i] = event(rng)
		}
		if _, err := s.CreateEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, batch...)
	}
	for _, i := range rng.Perm(len(stored))[:200] {
		if err := s.DeleteEvent(ctx, stored[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	queries := []tally.ReportQuery{
		{}, {Limit: 7, Offset: 30},
		{GroupBy: []tally.Column{tally.ColClient, tally.ColDate}, OrderBy: []tally.Order{{Column: tally.ColSum, Desc: true}}},
		{GroupBy: []tally.Column{tally.ColDeviceType}, Granularity: tally.Week},
	}
	report := func(s *sqlite.Store) []tally.Report {
		var out []tally.Report
		for _, q := range queries {
			if err := q.Normalize(); err != nil {
				t.Fatal(err)
			}
			r, err := s.Report(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	before := report(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := report(mustOpen(t, path, sqlite.Options{Synchronous: "normal"}))
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("reports changed on reopening (-before +after):\n%s", diff)
	}
	if before[0].Totals.Count != int64(len(stored)-200) {
		t.Errorf("count %d, want %d", before[0].Totals.Count, len(stored)-200)
	}
}
