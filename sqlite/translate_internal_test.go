package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/tallyhq/tally"
)

// Every constraint SQLite enforces is on a key the store gives out itself,
// so its violation is an internal error, never a conflict (409).
func TestTranslateConstraints(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	const event = `INSERT INTO events (seq, epoch, id, ts, device_type, category, client, client_group, valid, value_lo)
		VALUES (1, 0, x'00', 0, 0, 0, 1, 1, 1, 0)`
	const cell = `INSERT INTO cells (day, device_type, category, client, client_group, valid, count, sum_hi, sum_lo)
		VALUES (0, 0, 0, 1, 1, 1, 1, 0, 0)`
	const snapshot = `INSERT INTO snapshots (day, seq) VALUES (0, 1)`
	for _, q := range []string{event, cell, snapshot} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, sql string
	}{
		{"events seq", event},
		{"cells key", cell},
		{"snapshots day", snapshot},
		{"not null", `INSERT INTO snapshots (day, seq) VALUES (1, NULL)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.ExecContext(ctx, tc.sql)
			if err == nil {
				t.Fatal("no constraint error")
			}
			if code := tally.ErrorCode(translate(err)); code != tally.EInternal {
				t.Errorf("translate(%v): code %q, want %q", err, code, tally.EInternal)
			}
		})
	}
}
