package sqlite_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// Verify finds cells that drifted from the raw events, in every direction,
// and Repair puts them right, in the file and in the reports.
func TestVerifyAndRepair(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	// Small knobs, so that snapshots of most days are in the cells table.
	s := mustOpen(t, path, sqlite.WithKnobs(sqlite.Options{Synchronous: "normal"}, tinyKnobs))
	rng := rand.New(rand.NewPCG(5, 5))
	for range 30 {
		batch := make([]tally.Event, 10)
		for i := range batch {
			batch[i] = event(rng)
		}
		if _, err := s.CreateEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if diffs, err := s.Verify(ctx); err != nil || len(diffs) != 0 {
		t.Fatalf("Verify of a consistent store: %v, %v", diffs, err)
	}
	want := defaultTotals(t, s)

	// Damage the file behind the store's back: one cell off, one missing,
	// one that has no events at all.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE cells SET count = count + 1 WHERE (day, device_type, category, client, client_group, valid) IN
			(SELECT day, device_type, category, client, client_group, valid FROM cells LIMIT 1)`,
		`DELETE FROM cells WHERE (day, client) IN (SELECT day, client FROM cells ORDER BY day DESC LIMIT 1)`,
		`INSERT INTO cells VALUES (0, 1, 1, 99, 1, 1, 4, 0, 10500000)`,
		// One millionth off: only an exact comparison sees it.
		`UPDATE cells SET sum_lo = sum_lo + 1 WHERE (day, device_type, category, client, client_group, valid) IN
			(SELECT day, device_type, category, client, client_group, valid FROM cells WHERE client <> 99 ORDER BY day DESC LIMIT 1)`,
	} {
		if r, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		} else if n, _ := r.RowsAffected(); n == 0 {
			t.Fatalf("%s changed nothing", stmt)
		}
	}
	diffs, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) < 3 {
		t.Fatalf("Verify found %d differences, want at least 3: %+v", len(diffs), diffs)
	}
	var extra, millionth bool
	for _, d := range diffs {
		if d.Key.Client == 99 && d.Stored.Count == 4 && d.Recomputed.Count == 0 && d.Stored.Sum == tally.MustDecimal("10.5") {
			extra = true
		}
		if d.Stored.Count == d.Recomputed.Count && d.Stored.Sum.Sub(d.Recomputed.Sum) == tally.DecimalFromMicros(1) {
			millionth = true
		}
	}
	if !extra {
		t.Errorf("the cell without events is not among %+v", diffs)
	}
	if !millionth {
		t.Errorf("the cell one millionth off is not among %+v", diffs)
	}

	n, err := s.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("Repair wrote no cells")
	}
	if diffs, err := s.Verify(ctx); err != nil || len(diffs) != 0 {
		t.Fatalf("Verify after Repair: %v, %v", diffs, err)
	}
	if got := defaultTotals(t, s); got != want {
		t.Errorf("totals after Repair %+v, want %+v", got, want)
	}
	// Writes after the repair reach the new cube.
	e := event(rng)
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	want.Count++
	want.Sum = want.Sum.Add(e.Value)
	if got := defaultTotals(t, s); got != want {
		t.Errorf("totals after a write %+v, want %+v", got, want)
	}
}

func defaultTotals(t *testing.T, s *sqlite.Store) tally.Totals {
	t.Helper()
	q := tally.ReportQuery{}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return r.Totals
}
