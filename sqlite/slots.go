package sqlite

import (
	"context"
	"database/sql"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// buildSlots builds the cube's sub-day rollup that q needs, when the cube
// wants one (see cube.BeginSlots) and no other build is running, and returns
// a channel closed when it is done. The events are read from one snapshot,
// taken in the writer between two commits, when the cube holds exactly the
// committed state: the cube queues the changes committed after it, so the
// rollup counts every event once. The build outlives the request that asked
// for it: it is shared by every later report.
func (s *Store) buildSlots(q tally.ReportQuery) (<-chan struct{}, bool) {
	if !s.building.CompareAndSwap(false, true) {
		return nil, false
	}
	var (
		b  *cube.SlotBuild
		tx *sql.Tx
	)
	ctx := context.Background()
	r := &writeReq{kind: reqBetween, between: func() error {
		var ok bool
		if b, ok = s.cube.Load().BeginSlots(&q); !ok {
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
	err := s.w.submit(r)
	if err != nil || b == nil {
		if b != nil {
			b.Abort()
		}
		if tx != nil {
			tx.Rollback()
		}
		s.building.Store(false)
		return nil, false
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.building.Store(false)
		defer tx.Rollback()
		if err := eachEvent(ctx, tx, "", nil, b.Add); err != nil {
			b.Abort()
			s.log.Error("sub-day rollup build failed", "err", err)
			return
		}
		b.Finish()
	}()
	return done, true
}
