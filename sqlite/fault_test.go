package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/tools/gen"
)

// genEvents returns n generator events spread over a few days.
func genEvents(t *testing.T, n int, seed int64) []tally.Event {
	t.Helper()
	g, err := gen.New(gen.Config{Days: 3, PerDay: (n + 2) / 3, Seed: seed, Now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	events := make([]tally.Event, 0, n)
	for e := (tally.Event{}); len(events) < n && g.Next(&e); {
		events = append(events, e)
	}
	return events
}

// takeNextSeq writes, behind the store's back as a second writer on the file
// would, an event with the seq the store will give next.
func takeNextSeq(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO events (seq, epoch, id, ts, device_type, category, client, client_group, valid, value_lo)
		SELECT seq + 1, epoch, randomblob(16), ts, device_type, category, client, client_group, valid, value_lo
		FROM events ORDER BY seq DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
}

// A key the store gave out twice is its own failure, a 500, never the
// client's 409: only an event id already stored is a conflict.
func TestKeyCollisionIsInternal(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		create func(*sqlite.Store, []tally.Event) error
	}{
		{"CreateEvent", func(s *sqlite.Store, e []tally.Event) error { return s.CreateEvent(ctx, e[0]) }},
		{"CreateEvents", func(s *sqlite.Store, e []tally.Event) error { _, err := s.CreateEvents(ctx, e); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tally.db")
			s := mustOpen(t, path, sqlite.Options{Synchronous: "normal"})
			events := genEvents(t, 4, 1)
			if err := s.CreateEvent(ctx, events[0]); err != nil {
				t.Fatal(err)
			}
			takeNextSeq(t, path)
			err := tc.create(s, events[1:])
			if code := tally.ErrorCode(err); code != tally.EInternal {
				t.Errorf("create on a seq taken behind the store's back: code %q, want %q (%v)", code, tally.EInternal, err)
			}
			// A real duplicate is still a conflict.
			if err := s.CreateEvent(ctx, events[0]); tally.ErrorCode(err) != tally.EConflict {
				t.Errorf("create of a stored id: %v, want a conflict", err)
			}
		})
	}
}
