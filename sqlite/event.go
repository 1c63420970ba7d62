package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally"
)

// CreateEvent stores e; it shares a transaction with other writers.
func (s *Store) CreateEvent(ctx context.Context, e tally.Event) error {
	e.Normalize()
	if err := e.Validate(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, kind: reqCreate, events: []tally.Event{e}, inserted: make([]bool, 1)}
	if err := s.w.submit(r); err != nil {
		return err
	}
	if !r.inserted[0] {
		return tally.Errorf(tally.EConflict, "event %s already exists", e.ID)
	}
	return nil
}

// CreateEvents stores the batch in one transaction, possibly shared with
// other writers.
func (s *Store) CreateEvents(ctx context.Context, events []tally.Event) ([]bool, error) {
	batch := make([]tally.Event, len(events))
	for i, e := range events {
		e.Normalize()
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		batch[i] = e
	}
	r := &writeReq{ctx: ctx, kind: reqCreate, events: batch, inserted: make([]bool, len(batch))}
	if err := s.w.submit(r); err != nil {
		return nil, err
	}
	return r.inserted, nil
}

func compareCellKeys(x, y tally.CellKey) int {
	return cmp.Or(
		cmp.Compare(x.Bucket, y.Bucket),
		cmp.Compare(x.DeviceType, y.DeviceType),
		cmp.Compare(x.Category, y.Category),
		cmp.Compare(x.Client, y.Client),
		cmp.Compare(x.ClientGroup, y.ClientGroup),
		cmp.Compare(b2i(x.Valid), b2i(y.Valid)),
	)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Event returns the stored event with the given id. Only the epochs whose
// Bloom filter may hold the id are read; an id in no filter needs no SQL.
func (s *Store) Event(ctx context.Context, id tally.ID) (tally.Event, error) {
	f := s.w.filters
	var args []any
	for _, g := range f.maybe(nil, f.hash(id)) {
		args = append(f.epochArgs(args[:0], g), id[:])
		e := tally.Event{ID: id}
		err := scanEvent(s.eventStmt.QueryRowContext(ctx, args...), &e)
		switch {
		case err == nil:
			return e, nil
		case !errors.Is(err, sql.ErrNoRows):
			return tally.Event{}, fmt.Errorf("sqlite: read event: %w", translate(err))
		}
	}
	return tally.Event{}, tally.Errorf(tally.ENotFound, "event %s not found", id)
}

// DeleteEvent removes the event and its contribution to every report.
func (s *Store) DeleteEvent(ctx context.Context, id tally.ID) error {
	return s.w.submit(&writeReq{ctx: ctx, kind: reqDelete, id: id})
}

// scanEvent reads the columns ts, device_type, category, client,
// client_group, valid, value_lo, value_hi into e.
func scanEvent(row *sql.Row, e *tally.Event) error {
	var ts, device, category int64
	var v storedValue
	if err := row.Scan(&ts, &device, &category, &e.Client, &e.ClientGroup, &e.Valid, &v.lo, &v.hi); err != nil {
		return err
	}
	setEvent(e, ts, device, category)
	e.Value = v.decimal()
	return nil
}

func setEvent(e *tally.Event, ts, device, category int64) {
	e.Timestamp = time.UnixMicro(ts).UTC()
	e.DeviceType = tally.DeviceType(device)
	e.Category = tally.Category(category)
}
