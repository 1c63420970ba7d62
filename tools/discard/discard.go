// Package discard is a tally.Store that keeps nothing. It exists only as the
// ceiling of the ingestion benchmark (tally bench): served through the same
// HTTP path as a real store, it shows what the server costs before any
// storage, so that a store's throughput can be read as a share of it.
// Never use it to keep data.
package discard

import (
	"context"

	"github.com/tallyhq/tally"
)

var _ tally.Store = Store{}

// Store accepts every write and forgets it: reads find nothing and reports
// are empty. It does not detect duplicate ids, which would need memory that
// grows with the events. The zero value is ready to use.
type Store struct{}

// CreateEvent accepts e.
func (Store) CreateEvent(ctx context.Context, e tally.Event) error { return ctx.Err() }

// CreateEvents reports every event as inserted.
func (Store) CreateEvents(ctx context.Context, events []tally.Event) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inserted := make([]bool, len(events))
	for i := range inserted {
		inserted[i] = true
	}
	return inserted, nil
}

// Event finds nothing.
func (Store) Event(ctx context.Context, id tally.ID) (tally.Event, error) {
	return tally.Event{}, tally.Errorf(tally.ENotFound, "event %s not found: the discard store keeps nothing", id)
}

// DeleteEvent finds nothing to delete.
func (Store) DeleteEvent(ctx context.Context, id tally.ID) error {
	return tally.Errorf(tally.ENotFound, "event %s not found: the discard store keeps nothing", id)
}

// Report answers every query with no rows.
// DeleteEvents removes nothing: nothing is stored.
func (Store) DeleteEvents(ctx context.Context, f tally.Filter) (int64, error) { return 0, ctx.Err() }

func (Store) Report(ctx context.Context, q tally.ReportQuery) (tally.Report, error) {
	return tally.Report{Rows: []tally.Row{}}, ctx.Err()
}

// Ping always succeeds.
func (Store) Ping(ctx context.Context) error { return nil }

// Close has nothing to release.
func (Store) Close() error { return nil }
