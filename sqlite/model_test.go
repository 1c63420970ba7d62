package sqlite_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// model is the store as a map: what every answer must agree with.
type model map[tally.ID]tally.Event

// report computes q naively from the model's events.
func (m model) report(t *testing.T, q tally.ReportQuery) tally.Report {
	t.Helper()
	a := tally.NewAggregator(&q)
	for _, e := range m {
		a.Add(tally.KeyOf(&e, 1), 1, e.Value)
	}
	return a.Report()
}

var modelQueries = []tally.ReportQuery{
	{},
	{GroupBy: []tally.Column{tally.ColDate, tally.ColClient}, OrderBy: []tally.Order{{Column: tally.ColSum, Desc: true}}},
	{GroupBy: []tally.Column{tally.ColDeviceType, tally.ColValid}, Granularity: tally.Week},
	{GroupBy: []tally.Column{tally.ColCategory}, Limit: 3, Offset: 1},
}

// checkModel compares every report, Verify and a sample of lookups with the
// model.
func checkModel(t *testing.T, s *sqlite.Store, m model, when string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range modelQueries {
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m.report(t, q), got); diff != "" {
			t.Fatalf("%s: report %+v (-model +store):\n%s", when, q.GroupBy, diff)
		}
	}
	if diffs, err := s.Verify(ctx); err != nil || len(diffs) != 0 {
		t.Fatalf("%s: Verify: %v, %+v", when, err, diffs)
	}
}

// A randomized differential test: creates (single, batches with duplicates
// within and across epochs), deletes, lookups, several writes in one
// transaction, reopens and repairs, on tiny epochs, saturated Bloom filters
// (false positives) and a snapshot refresh nearly every transaction; every
// answer must match a map.
func TestAgainstModel(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	opts := sqlite.WithKnobs(sqlite.Options{Synchronous: "normal"},
		sqlite.Knobs{EpochShift: 2, GroupShift: 6, FilterBits: 512, BacklogMin: 5, Chunk: 4, ImageEvery: 16})
	s, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	rng := rand.New(rand.NewPCG(11, 12))
	m := model{}
	var ids []tally.ID // every id ever used, stored or not
	newEvent := func() tally.Event {
		e := event(rng)
		e.Timestamp = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(40*24*60)) * time.Minute)
		ids = append(ids, e.ID)
		return e
	}
	pickID := func() tally.ID {
		if len(ids) == 0 || rng.IntN(8) == 0 {
			return tally.NewID()
		}
		return ids[rng.IntN(len(ids))]
	}
	// batch returns events with fresh ids, resent ids and ids repeated
	// within the batch, and what CreateEvents must answer.
	batch := func(n int) ([]tally.Event, []bool) {
		var events []tally.Event
		var want []bool
		seen := map[tally.ID]bool{}
		for range n {
			e := newEvent()
			switch r := rng.IntN(10); {
			case r < 2 && len(ids) > 1:
				e.ID = ids[rng.IntN(len(ids)-1)] // an older id, stored or deleted
			case r < 3 && len(events) > 0:
				e.ID = events[rng.IntN(len(events))].ID // again in this batch
			}
			_, stored := m[e.ID]
			want = append(want, !stored && !seen[e.ID])
			seen[e.ID] = true
			events = append(events, e)
		}
		return events, want
	}
	apply := func(events []tally.Event, inserted []bool) {
		for i, e := range events {
			if inserted[i] {
				e.Normalize()
				m[e.ID] = e
			}
		}
	}
	ops := 1200
	if raceEnabled {
		ops = 400
	}
	var fp, fromImage, reopens int
	for op := range ops {
		switch r := rng.IntN(100); {
		case r < 35:
			events, want := batch(1 + rng.IntN(12))
			got, err := s.CreateEvents(ctx, events)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("op %d: CreateEvents outcomes (-want +got):\n%s", op, diff)
			}
			apply(events, got)
		case r < 50:
			e := newEvent()
			if rng.IntN(3) == 0 && len(ids) > 1 {
				e.ID = ids[rng.IntN(len(ids)-1)]
			}
			_, stored := m[e.ID]
			err := s.CreateEvent(ctx, e)
			if stored && tally.ErrorCode(err) != tally.EConflict || !stored && err != nil {
				t.Fatalf("op %d: CreateEvent of a stored (%v) id: %v", op, stored, err)
			}
			if !stored {
				apply([]tally.Event{e}, []bool{true})
			}
		case r < 70:
			id := pickID()
			_, stored := m[id]
			err := s.DeleteEvent(ctx, id)
			if stored && err != nil || !stored && tally.ErrorCode(err) != tally.ENotFound {
				t.Fatalf("op %d: DeleteEvent of a stored (%v) id: %v", op, stored, err)
			}
			delete(m, id)
		case r < 82:
			id := pickID()
			want, stored := m[id]
			if !stored && s.FilterMaybes(id) > 0 {
				fp++
			}
			got, err := s.Event(ctx, id)
			switch {
			case stored && err != nil:
				t.Fatalf("op %d: Event of a stored id: %v", op, err)
			case stored && !got.Timestamp.Equal(want.Timestamp):
				t.Fatalf("op %d: Event = %+v, want %+v", op, got, want)
			case stored:
				got.Timestamp = want.Timestamp // same instant, maybe another *Location
				if got != want {
					t.Fatalf("op %d: Event = %+v, want %+v", op, got, want)
				}
			case tally.ErrorCode(err) != tally.ENotFound:
				t.Fatalf("op %d: Event of a missing id: %v", op, err)
			}
		case r < 95:
			// Several writes in one transaction: a create, its delete and
			// its re-creation must each see the one before.
			events, want := batch(1 + rng.IntN(6))
			again := events[0]
			again.Value = again.Value.Add(tally.DecimalFromInt(1))
			var wantDel error
			if !want[0] {
				if _, stored := m[again.ID]; !stored {
					wantDel = tally.Errorf(tally.ENotFound, "")
				}
			}
			gotIns, errs, err := s.InOneTransaction(ctx, []sqlite.Op{
				{Create: events}, {Delete: events[0].ID}, {Create: []tally.Event{again}}, {Delete: tally.NewID()},
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, gotIns[0]); diff != "" {
				t.Fatalf("op %d: outcomes in one transaction (-want +got):\n%s", op, diff)
			}
			if tally.ErrorCode(errs[1]) != tally.ErrorCode(wantDel) || !gotIns[2][0] || tally.ErrorCode(errs[3]) != tally.ENotFound {
				t.Fatalf("op %d: delete %v (want %v), re-create %v, delete of a new id %v", op, errs[1], wantDel, gotIns[2][0], errs[3])
			}
			apply(events, gotIns[0])
			delete(m, events[0].ID)
			apply([]tally.Event{again}, []bool{true})
		case r < 98:
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = sqlite.Open(ctx, path, opts); err != nil {
				t.Fatal(err)
			}
			reopens++
			if s.Loaded() == "image" {
				fromImage++
			}
			checkModel(t, s, m, "after reopening")
		default:
			if _, err := s.Repair(ctx); err != nil {
				t.Fatal(err)
			}
			checkModel(t, s, m, "after Repair")
		}
		if op%500 == 0 {
			checkModel(t, s, m, "during the run")
		}
	}
	checkModel(t, s, m, "at the end")
	if fp == 0 {
		t.Error("no Bloom filter false positive was exercised")
	}
	if fromImage == 0 || fromImage == reopens {
		t.Errorf("%d of %d reopens loaded a start-up image: want some, not all", fromImage, reopens)
	}
	t.Logf("%d events stored, %d lookups of missing ids through a filter false positive", len(m), fp)
}

// Verify finds damage to the snapshot marks: a day whose mark is lowered
// counts events twice, one whose mark is raised loses them.
func TestVerifySnapshots(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, damage string
	}{
		{"lowered", `UPDATE snapshots SET seq = 0 WHERE day = (SELECT max(day) FROM cells)`},
		{"raised", `UPDATE snapshots SET seq = seq + 1000000 WHERE day = (SELECT max(day) FROM snapshots)`},
		{"missing", `DELETE FROM snapshots WHERE day = (SELECT max(day) FROM cells)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tally.db")
			s := mustOpen(t, path, sqlite.WithKnobs(sqlite.Options{Synchronous: "normal"}, tinyKnobs))
			rng := rand.New(rand.NewPCG(1, 2))
			for range 40 {
				batch := make([]tally.Event, 5)
				for i := range batch {
					batch[i] = event(rng)
				}
				if _, err := s.CreateEvents(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			if diffs, err := s.Verify(ctx); err != nil || len(diffs) != 0 {
				t.Fatalf("Verify of a consistent store: %v, %+v", err, diffs)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if r, err := db.Exec(tt.damage); err != nil {
				t.Fatal(err)
			} else if n, _ := r.RowsAffected(); n != 1 {
				t.Fatalf("%s changed %d rows", tt.damage, n)
			}
			diffs, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) == 0 {
				t.Fatal("Verify found nothing")
			}
			if _, err := s.Repair(ctx); err != nil {
				t.Fatal(err)
			}
			if diffs, err := s.Verify(ctx); err != nil || len(diffs) != 0 {
				t.Fatalf("Verify after Repair: %v, %+v", err, diffs)
			}
		})
	}
}
