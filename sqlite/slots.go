package sqlite

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"sync"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// slotBuilds runs the sub-day rollup builds one after another, each serving
// every projection asked for while the one before it ran: reports that need
// a rollup not built yet wait for it (within the scan timeout) rather than
// read raw events each, since a build costs one scan however many
// projections it fills, while every raw scan beside it would take the
// cores that writes need.
type slotBuilds struct {
	mu       sync.Mutex
	waiting  map[cube.SlotNeed]chan struct{} // for the next build
	inflight map[cube.SlotNeed]chan struct{} // the running build's
	running  bool
}

// awaitSlots returns a channel closed once the sub-day rollup q needs has
// been built (or refused as too large, or failed), and false when q needs
// none that may still be built.
func (s *Store) awaitSlots(q *tally.ReportQuery) (<-chan struct{}, bool) {
	need, ok := s.cube.Load().SlotNeed(q)
	if !ok {
		return nil, false
	}
	b := &s.slotBuilds
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch := b.inflight[need]; ch != nil {
		return ch, true
	}
	if b.waiting == nil {
		b.waiting = make(map[cube.SlotNeed]chan struct{})
	}
	ch := b.waiting[need]
	if ch == nil {
		ch = make(chan struct{})
		b.waiting[need] = ch
	}
	if !b.running {
		b.running = true
		go s.runSlotBuilds()
	}
	return ch, true
}

// runSlotBuilds builds what reports wait for until none does. The builds
// outlive the requests that asked for them: they serve every later report.
func (s *Store) runSlotBuilds() {
	b := &s.slotBuilds
	for {
		b.mu.Lock()
		if len(b.waiting) == 0 {
			b.running, b.inflight = false, nil
			b.mu.Unlock()
			return
		}
		b.inflight, b.waiting = b.waiting, nil
		needs := slices.Collect(maps.Keys(b.inflight))
		b.mu.Unlock()

		if err := s.buildSlots(needs); err != nil {
			s.log.Error("sub-day rollup build failed", "err", err)
		}

		b.mu.Lock()
		for _, ch := range b.inflight {
			close(ch)
		}
		b.inflight = nil
		b.mu.Unlock()
	}
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
