package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/storetest"
)

func TestStore(t *testing.T) {
	opts := storetest.Options{}
	if raceEnabled {
		opts = storetest.Options{RandomEvents: 1000, RandomQueries: 100}
	}
	// Reports in other zones and by hour come from the sub-day rollups by
	// default, and from raw events without them: the suite checks both.
	for _, tc := range []struct {
		name  string
		cells int
	}{{"SubDayRollups", 0}, {"RawEvents", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) tally.Store {
				// "normal" skips an fsync per commit; durability is not what
				// the suite checks, and it keeps the suite fast.
				return mustOpen(t, filepath.Join(t.TempDir(), "tally.db"),
					sqlite.Options{Synchronous: "normal", SubDayCells: tc.cells})
			}, opts)
		})
	}
}

func mustOpen(t testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "tally.db") // Open creates the folders
	e := tally.Event{ID: tally.NewID(), DeviceType: tally.DeviceMobile, Category: tally.NoCategory, Client: 3, ClientGroup: 4,
		Timestamp: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Valid: true, Value: tally.MustDecimal("2.5")}

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantVersion := userVersion(t, path)
	if wantVersion < 1 {
		t.Fatalf("user_version %d after the first Open", wantVersion)
	}

	// Opening again migrates nothing and keeps the data.
	for range 2 {
		s = mustOpen(t, path, sqlite.Options{Synchronous: "normal"})
		if _, err := s.Event(ctx, e.ID); err != nil {
			t.Errorf("Event after reopening: %v", err)
		}
		q := tally.ReportQuery{}
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		r, err := s.Report(ctx, q)
		if err != nil {
			t.Fatalf("Report: %v", err)
		}
		if r.Totals != (tally.Totals{Count: 1, Sum: tally.MustDecimal("2.5")}) {
			t.Errorf("Totals after reopening: %+v", r.Totals)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := userVersion(t, path); got != wantVersion {
			t.Errorf("user_version %d after reopening, want %d", got, wantVersion)
		}
	}
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tally.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 1000`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a file from a newer version succeeded")
	}
}

func TestOpenBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		path string
		opts sqlite.Options
	}{
		{"synchronous", filepath.Join(dir, "a.db"), sqlite.Options{Synchronous: "off"}},
		{"empty path", "", sqlite.Options{}},
		{"question mark", filepath.Join(dir, "a?.db"), sqlite.Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tt.path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if code := tally.ErrorCode(err); code != tally.EInvalid {
				t.Errorf("error code %q (%v), want %q", code, err, tally.EInvalid)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e := tally.Event{ID: tally.NewID(), Timestamp: time.Now()}
	if err := s.CreateEvent(ctx, e); tally.ErrorCode(err) != tally.EUnavailable {
		t.Errorf("CreateEvent after Close: %v, want code %q", err, tally.EUnavailable)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The limits of raw scans, with the sub-day rollups off so that reports in
// other zones read raw events. (With them on, one rollup build at a time
// scans, and reports wait for it within the scan timeout.)
func TestHeavyReports(t *testing.T) {
	storetest.RunHeavyReports(t, func(t *testing.T, l tally.ScanLimits) tally.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal", Scans: l, SubDayCells: -1})
	})
}
