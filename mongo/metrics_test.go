package mongo_test

import (
	"context"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/storetest"
)

// The writer reports its commits as the SQLite store's does: one a batch,
// with its callers and the events they asked for, failed deletes included.
// FerretDB runs no transactions, so nothing is retried there.
func TestCommitMetrics(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	evs := randomEvents(1, 4)
	if err := s.CreateEvent(ctx, evs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEvents(ctx, evs[1:]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(ctx, evs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(ctx, evs[0].ID); tally.ErrorCode(err) != tally.ENotFound {
		t.Fatalf("deleting a deleted event: %v, want not found", err)
	}
	got := storetest.Metrics(t, s)
	for name, want := range map[string]float64{
		"tally_store_commit_callers_count":          4,
		"tally_store_commit_callers_sum":            4,
		"tally_store_commit_events_count":           4,
		"tally_store_commit_events_sum":             6,
		"tally_store_commit_duration_seconds_count": 4,
		"tally_store_commit_retries_total":          0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %t), want %v", name, v, ok, want)
		}
	}
}
