package sqlite_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// Reports that need different sub-day rollups, arriving together, wait for
// builds rather than each scanning the raw events (which, at millions of
// events, took the cores that writes need and ran past the scan cap into
// 503s): no raw scan runs, and every answer is exact.
func TestSubDayRollupsArrivingTogether(t *testing.T) {
	ctx := context.Background()
	var rawScans atomic.Int64
	s := mustOpen(t, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal",
		Scans: tally.ScanLimits{Started: func(context.Context) { rawScans.Add(1) }}})
	start := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	events := make([]tally.Event, 50_000)
	for i := range events {
		events[i] = tally.Event{ID: tally.NewID(), DeviceType: tally.DeviceType(rng.IntN(4)), Category: tally.Category(rng.IntN(5)),
			Client: int32(rng.IntN(20)), ClientGroup: int32(rng.IntN(3)), Valid: rng.IntN(2) == 0,
			Timestamp: start.Add(time.Duration(rng.Int64N(int64(20 * 24 * time.Hour)))).Truncate(time.Microsecond),
			Value:     tally.DecimalFromMicros(rng.Int64N(2_000_000_000))}
	}
	if _, err := s.CreateEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	berlin, kolkata := zone("Europe/Berlin"), zone("Asia/Kolkata")
	queries := []tally.ReportQuery{
		{GroupBy: []tally.Column{tally.ColDate}, Location: berlin},
		{GroupBy: []tally.Column{tally.ColDate, tally.ColDeviceType}, Granularity: tally.Hour, Location: zone("Asia/Kathmandu")},
		{GroupBy: []tally.Column{tally.ColClient}, Location: zone("America/New_York"),
			Filter: tally.Filter{From: time.Date(2026, 3, 25, 0, 0, 0, 0, zone("America/New_York"))}},
		{GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Week, Location: zone("Australia/Lord_Howe")},
		{GroupBy: []tally.Column{tally.ColDate, tally.ColClient}, Granularity: tally.Hour, Location: kolkata},
		{GroupBy: []tally.Column{tally.ColCategory, tally.ColValid}, Location: kolkata},
		{GroupBy: []tally.Column{tally.ColDate, tally.ColClientGroup}, Granularity: tally.Month, Location: berlin},
		{GroupBy: []tally.Column{tally.ColDate}, Location: berlin}, // the same rollup as the first
	}
	for i := range queries {
		if err := queries[i].Normalize(); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]tally.Report, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Go(func() {
			var err error
			if got[i], err = s.Report(ctx, q); err != nil {
				t.Errorf("%+v: %v", q.GroupBy, err)
			}
		})
	}
	wg.Wait()
	if n := rawScans.Load(); n != 0 {
		t.Errorf("%d reports read raw events; want every one answered from a rollup", n)
	}
	for i, q := range queries {
		a := tally.NewAggregator(&q)
		for _, e := range events {
			a.Add(tally.KeyOf(&e, 1), 1, e.Value)
		}
		if diff := cmp.Diff(a.Report(), got[i]); diff != "" {
			t.Errorf("%+v in %s (-want +got):\n%s", q.GroupBy, q.Location, diff)
		}
	}
}

// The sub-day rollups built before a restart come back with the start-up
// image: after reopening, a zoned report needs no build and no raw scan,
// and counts the events created and deleted after the image exactly.
func TestSubDayRollupsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC) // across Europe's DST start
	rng := rand.New(rand.NewPCG(7, 8))
	event := func() tally.Event {
		return tally.Event{ID: tally.NewID(), DeviceType: tally.DeviceType(rng.IntN(4)), Category: tally.NoCategory,
			Client: int32(rng.IntN(9)), ClientGroup: 1, Valid: rng.IntN(3) > 0,
			Timestamp: start.Add(time.Duration(rng.Int64N(int64(8 * 24 * time.Hour)))).Truncate(time.Microsecond),
			Value:     tally.DecimalFromMicros(rng.Int64N(1e12))}
	}
	live := map[tally.ID]tally.Event{}
	create := func(n int) {
		batch := make([]tally.Event, n)
		for i := range batch {
			batch[i] = event()
			live[batch[i].ID] = batch[i]
		}
		if _, err := s.CreateEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(n int) {
		for id := range live {
			if n == 0 {
				return
			}
			if err := s.DeleteEvent(ctx, id); err != nil {
				t.Fatal(err)
			}
			delete(live, id)
			n--
		}
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	queries := []tally.ReportQuery{
		{GroupBy: []tally.Column{tally.ColDate, tally.ColDeviceType}, Granularity: tally.Hour, Location: berlin},
		{GroupBy: []tally.Column{tally.ColClient}, Location: berlin,
			Filter: tally.Filter{From: time.Date(2026, 3, 27, 0, 0, 0, 0, berlin), To: time.Date(2026, 3, 30, 0, 0, 0, 0, berlin)}},
	}
	for i := range queries {
		if err := queries[i].Normalize(); err != nil {
			t.Fatal(err)
		}
	}
	create(5000)
	for _, q := range queries { // builds the rollups
		if _, err := s.Report(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveImage(ctx); err != nil {
		t.Fatal(err)
	}
	create(700) // replayed at start
	remove(300) // tombstones: counted by the image, taken out at start
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var rawScans atomic.Int64
	s = mustOpen(t, path, sqlite.Options{Synchronous: "normal",
		Scans: tally.ScanLimits{Started: func(context.Context) { rawScans.Add(1) }}})
	if got := s.Loaded(); got != "image" {
		t.Fatalf("reopened from %q, want the image", got)
	}
	for _, q := range queries {
		if s.SlotNeeded(q) {
			t.Errorf("%+v: the rollup is to be built again after the restart", q.GroupBy)
		}
		got, err := s.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		a := tally.NewAggregator(&q)
		for _, e := range live {
			a.Add(tally.KeyOf(&e, 1), 1, e.Value)
		}
		if diff := cmp.Diff(a.Report(), got); diff != "" {
			t.Errorf("%+v after the restart (-want +got):\n%s", q.GroupBy, diff)
		}
	}
	if n := rawScans.Load(); n != 0 {
		t.Errorf("%d reports read raw events", n)
	}
}
