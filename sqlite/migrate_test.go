package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/tallyhq/tally"
)

// A file written by the float version (schema 1) opens with exact values
// and exact sums: the values are recovered as the decimals clients wrote,
// and the float sums of its cells are not trusted.
func TestMigrateFloatValues(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations[0](ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Values as the float version stored them, and a cell whose float sum
	// lost the cent next to 1e15 (0.01 + 2500000000.25 + 0.1 + 0.2 - …).
	values := []float64{0.1, 0.2, 0.01, 2500000000.25, -1234567.891, 999999999.999999}
	const day = 20_000 * tally.SecondsPerDay
	for i, v := range values {
		id := tally.NewID()
		if _, err := db.ExecContext(ctx, `INSERT INTO events VALUES (?, 0, ?, ?, 0, ?, 1, 1, 1, ?)`,
			i+1, id[:], (day+int64(i))*1e6, int64(tally.NoCategory), v); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO cells VALUES (1728000000, 0, -2147483649, 1, 1, 1, 6, 3498765432.6689987)`,
		`INSERT INTO snapshots VALUES (1728000000, 6)`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want tally.Decimal
	for _, v := range values {
		d, err := tally.DecimalFromFloat(v)
		if err != nil {
			t.Fatal(err)
		}
		want = want.Add(d)
	}
	if want.String() != "3498765432.668999" {
		t.Fatalf("test values sum to %s", want)
	}
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient}}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals != (tally.Totals{Count: 6, Sum: want}) {
		t.Errorf("totals %d %s, want 6 %s", r.Totals.Count, r.Totals.Sum, want)
	}
	if diffs, err := s.Verify(ctx); err != nil || len(diffs) != 0 {
		t.Errorf("Verify after the migration: %+v, %v", diffs, err)
	}
}
