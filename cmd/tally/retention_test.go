package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// serve's retention loop deletes the events older than the retention at
// start, and keeps the others.
func TestExpireEvents(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now().UTC()
	var evs []tally.Event
	for i, age := range []time.Duration{50 * time.Hour, 49 * time.Hour, time.Hour, 0} {
		evs = append(evs, tally.Event{ID: tally.NewID(), Client: int32(i), ClientGroup: 1, Category: tally.NoCategory,
			Timestamp: now.Add(-age).Truncate(time.Microsecond), Valid: true, Value: tally.DecimalFromInt(1)})
	}
	if _, err := store.CreateEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	r := tally.Retention{Age: 48 * time.Hour}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		expireEvents(lctx, store, r, slog.New(slog.DiscardHandler))
	}()
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient}}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // a failure guard only
	for {
		rep, err := store.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Totals.Count == 2 {
			if rep.Rows[0].Key.Client != 2 || rep.Rows[1].Key.Client != 3 {
				t.Errorf("kept clients %d and %d, want 2 and 3", rep.Rows[0].Key.Client, rep.Rows[1].Key.Client)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events left, want the 2 within the retention", rep.Totals.Count)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
