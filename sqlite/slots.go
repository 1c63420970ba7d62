package sqlite

import (
	"context"
	"database/sql"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// awaitSlots returns a channel closed once the sub-day rollup q needs has
// been built (or refused as too large, or failed), and false when q needs
// none that may still be built.
func (s *Store) awaitSlots(q *tally.ReportQuery) (<-chan struct{}, bool) {
	need, ok := s.cube.Load().SlotNeed(q)
	if !ok {
		return nil, false
	}
	return s.slotBuilds.Await(need, func(needs []cube.SlotNeed) {
		if err := s.buildSlots(needs); err != nil {
			s.log.Error("sub-day rollup build failed", "err", err)
		}
	}), true
}

// buildSlots builds the cube's sub-day rollups for needs with one scan of
// the events, read from one snapshot taken in the writer between two
// commits, when the cube holds exactly the committed state: the cube
// queues the changes committed after it, so the rollups count every event
// once.
func (s *Store) buildSlots(needs []cube.SlotNeed) error {
	var (
		b  *cube.SlotBuild
		tx *sql.Tx
	)
	ctx := context.Background()
	r := &writeReq{kind: reqBetween, between: func() error {
		var ok bool
		if b, ok = s.cube.Load().BeginSlots(needs...); !ok {
			b = nil
			return nil
		}
		var err error
		if tx, err = s.read.BeginTx(ctx, nil); err != nil {
			return err
		}
		// A WAL reader's snapshot is fixed by its first read, here.
		var n int64
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM snapshots`).Scan(&n)
	}}
	if err := s.w.submit(r); err != nil || b == nil {
		if b != nil {
			b.Abort()
		}
		if tx != nil {
			tx.Rollback()
		}
		return err
	}
	defer tx.Rollback()
	if err := eachEvent(ctx, tx, "", nil, b.Add); err != nil {
		b.Abort()
		return err
	}
	b.Finish()
	return nil
}
