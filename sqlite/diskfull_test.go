package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// A full disk fails writes with EUnavailable and makes Ping say so, while
// reads go on; the first write that succeeds again clears it.
func TestDiskFullIsNotReady(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal"})
	events := genEvents(t, 3001, 2)
	if err := s.CreateEvent(ctx, events[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.LimitPages(ctx, 1); err != nil { // the file's size: no room to grow
		t.Fatal(err)
	}
	_, err := s.CreateEvents(ctx, events[1:])
	if code := tally.ErrorCode(err); code != tally.EUnavailable {
		t.Fatalf("write to a full disk: code %q, want %q (%v)", code, tally.EUnavailable, err)
	}
	err = s.Ping(ctx)
	if code := tally.ErrorCode(err); code != tally.EUnavailable || !strings.Contains(tally.ErrorMessage(err), "disk full") {
		t.Errorf("Ping after a write failed on a full disk: %v, want unavailable, disk full", err)
	}
	if _, err := s.Event(ctx, events[0].ID); err != nil {
		t.Errorf("read with a full disk: %v", err)
	}
	q := tally.ReportQuery{}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Report(ctx, q); err != nil || r.Totals.Count != 1 {
		t.Errorf("report with a full disk: %v, count %d, want 1", err, r.Totals.Count)
	}

	if err := s.LimitPages(ctx, 1<<30); err != nil { // room again
		t.Fatal(err)
	}
	if _, err := s.CreateEvents(ctx, events[1:]); err != nil {
		t.Fatalf("write after room was made: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after a write succeeded again: %v", err)
	}
}
