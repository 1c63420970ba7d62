package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tallyhq/tally"
)

// CreateEvent stores e and adds it to its cell in one transaction.
func (s *Store) CreateEvent(ctx context.Context, e tally.Event) error {
	e.Normalize()
	if err := e.Validate(); err != nil {
		return err
	}
	return s.w.do(ctx, func(tx *writeTx) error {
		ok, err := tx.insertEvent(&e)
		switch {
		case err != nil:
			return err
		case !ok:
			return rejection{tally.Errorf(tally.EConflict, "event %s already exists", e.ID)}
		}
		return tx.addCell(tally.KeyOf(&e, tally.SecondsPerDay), 1, e.Value)
	})
}

// CreateEvents stores the batch in one transaction. Cells are summed in
// memory first, so a batch updates each cell it touches once.
func (s *Store) CreateEvents(ctx context.Context, events []tally.Event) ([]bool, error) {
	batch := make([]tally.Event, len(events))
	for i, e := range events {
		e.Normalize()
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		batch[i] = e
	}
	inserted := make([]bool, len(batch))
	err := s.w.do(ctx, func(tx *writeTx) error {
		type agg struct {
			count int64
			sum   float64
		}
		cells := make(map[tally.CellKey]agg)
		for i := range batch {
			e := &batch[i]
			ok, err := tx.insertEvent(e)
			if err != nil {
				return err
			}
			inserted[i] = ok
			if ok {
				k := tally.KeyOf(e, tally.SecondsPerDay)
				a := cells[k]
				cells[k] = agg{a.count + 1, a.sum + e.Value}
			}
		}
		// In key order, so that the upserts walk the cells' B-tree forwards.
		keys := make([]tally.CellKey, 0, len(cells))
		for k := range cells {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareCellKeys)
		for _, k := range keys {
			if err := tx.addCell(k, cells[k].count, cells[k].sum); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inserted, nil
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

// Event returns the stored event with the given id.
func (s *Store) Event(ctx context.Context, id tally.ID) (tally.Event, error) {
	e := tally.Event{ID: id}
	err := scanEvent(s.eventStmt.QueryRowContext(ctx, id[:]), &e)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return tally.Event{}, tally.Errorf(tally.ENotFound, "event %s not found", id)
	case err != nil:
		return tally.Event{}, fmt.Errorf("sqlite: read event: %w", translate(err))
	}
	return e, nil
}

// DeleteEvent removes the event and takes it out of its cell in one
// transaction.
func (s *Store) DeleteEvent(ctx context.Context, id tally.ID) error {
	return s.w.do(ctx, func(tx *writeTx) error {
		e, ok, err := tx.deleteEvent(id)
		switch {
		case err != nil:
			return err
		case !ok:
			return rejection{tally.Errorf(tally.ENotFound, "event %s not found", id)}
		}
		return tx.subtractCell(tally.KeyOf(&e, tally.SecondsPerDay), 1, e.Value)
	})
}

// scanEvent reads the columns ts, device_type, category, client,
// client_group, valid, value into e.
func scanEvent(row *sql.Row, e *tally.Event) error {
	var ts, device, category int64
	if err := row.Scan(&ts, &device, &category, &e.Client, &e.ClientGroup, &e.Valid, &e.Value); err != nil {
		return err
	}
	e.Timestamp = time.UnixMicro(ts).UTC()
	e.DeviceType = tally.DeviceType(device)
	e.Category = tally.Category(category)
	return nil
}
