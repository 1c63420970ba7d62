package sqlite_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/storetest"
)

// The store exports its writer's commits: one a write, with its callers
// and the events they asked for, failed ones included.
func TestCommitMetrics(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	first := event(rng)
	if err := s.CreateEvent(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEvents(ctx, []tally.Event{event(rng), event(rng), event(rng)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(ctx, first.ID); err == nil {
		t.Fatal("deleting a deleted event succeeded")
	}
	got := storetest.Metrics(t, s)
	for name, want := range map[string]float64{
		"tally_store_commit_callers_count":          4,
		"tally_store_commit_callers_sum":            4,
		"tally_store_commit_events_count":           4,
		"tally_store_commit_events_sum":             6,
		"tally_store_commit_duration_seconds_count": 4,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
