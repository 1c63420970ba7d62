package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/cube"
)

// writer owns the only connection that writes. Callers describe their work
// as a function of a writeTx; the writer runs the work of every caller that
// is waiting when a transaction starts in that one transaction (group
// commit), so that concurrent single-event writes share one commit and its
// sync, and answers each caller only after the commit.
type writer struct {
	db   *sql.DB // at most one connection
	reqs chan *writeReq
	done chan struct{} // closed when the loop has ended
	// onCommit receives what a committed transaction changed, before any of
	// its callers is answered: a cube that replaces the current one (nil if
	// none), then the cell changes made after it, in order.
	onCommit func(replace *cube.Cube, deltas []cellDelta)
	observe  func(callers int, elapsed time.Duration) // may be nil

	mu     sync.RWMutex // guards closed against sends on a closed reqs
	closed bool

	insertEvent, deleteEvent *sql.Stmt
	upsertCell, subtractCell *sql.Stmt
	deleteEmptyCell          *sql.Stmt
}

// maxGroup bounds how many callers share one transaction, so that one
// commit's latency stays bounded under a flood.
const maxGroup = 512

type writeReq struct {
	ctx  context.Context
	fn   func(*writeTx) error
	done chan error
}

// rejection is a caller's outcome that changed nothing, such as a conflict:
// it fails that caller alone.
type rejection struct{ err error }

func (r rejection) Error() string { return r.err.Error() }
func (r rejection) Unwrap() error { return r.err }

// cellDelta is a change to one cell, handed to onCommit.
type cellDelta struct {
	key   tally.CellKey
	count int64
	sum   float64
}

func newWriter(ctx context.Context, db *sql.DB, observe func(int, time.Duration), onCommit func(*cube.Cube, []cellDelta)) (*writer, error) {
	w := &writer{db: db, reqs: make(chan *writeReq, maxGroup), done: make(chan struct{}), observe: observe, onCommit: onCommit}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.insertEvent, `INSERT INTO events (id, ts, device_type, category, client, client_group, valid, value)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{&w.deleteEvent, `DELETE FROM events WHERE id = ?
			RETURNING ts, device_type, category, client, client_group, valid, value`},
		{&w.upsertCell, `INSERT INTO cells (day, device_type, category, client, client_group, valid, count, sum)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (day, device_type, category, client, client_group, valid)
			DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum`},
		{&w.subtractCell, `UPDATE cells SET count = count - ?, sum = sum - ?
			WHERE day = ? AND device_type = ? AND category = ? AND client = ? AND client_group = ? AND valid = ?`},
		{&w.deleteEmptyCell, `DELETE FROM cells
			WHERE day = ? AND device_type = ? AND category = ? AND client = ? AND client_group = ? AND valid = ? AND count <= 0`},
	} {
		s, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			w.closeStmts()
			return nil, fmt.Errorf("sqlite: prepare: %w", translate(err))
		}
		*p.stmt = s
	}
	go w.loop()
	return w, nil
}

// do runs fn in a write transaction, possibly shared with other callers, and
// returns once that transaction is committed (as durable as the synchronous
// option asks) or has failed.
//
// When fn returns a rejection (a conflict, a missing event) it must have
// changed nothing: the transaction goes on for the other callers. Any other
// error rolls back the whole transaction and fails every caller in it.
func (w *writer) do(ctx context.Context, fn func(*writeTx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return tally.Errorf(tally.EUnavailable, "store is closed")
	}
	w.reqs <- r
	w.mu.RUnlock()
	// Wait for the outcome even when ctx ends: the write may already be
	// committed, and the caller must not report failure for a stored event.
	return <-r.done
}

func (w *writer) loop() {
	defer close(w.done)
	group := make([]*writeReq, 0, maxGroup)
	for r := range w.reqs {
		group = append(group[:0], r)
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		w.commit(group)
	}
}

// commit runs the group's work in one transaction and answers every caller.
func (w *writer) commit(group []*writeReq) {
	// The shared transaction must not end with one caller's context.
	ctx := context.Background()
	if w.observe != nil {
		start := time.Now()
		defer func() { w.observe(len(group), time.Since(start)) }()
	}
	fail := func(err error) {
		for _, r := range group {
			r.done <- err
		}
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", translate(err)))
		return
	}
	t := &writeTx{ctx: ctx, tx: tx, w: w}
	results := make([]error, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err // gave up before its work began: nothing written
			continue
		}
		err := r.fn(t)
		var rej rejection
		switch {
		case err == nil:
		case errors.As(err, &rej):
			results[i] = rej.err
		default:
			tx.Rollback()
			fail(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", translate(err)))
		return
	}
	if t.replace != nil || len(t.deltas) > 0 {
		w.onCommit(t.replace, t.deltas)
	}
	for i, r := range group {
		r.done <- results[i]
	}
}

// close finishes the writes already asked for, then closes the connection.
func (w *writer) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.reqs)
	w.mu.Unlock()
	<-w.done
	return errors.Join(w.closeStmts(), w.db.Close())
}

func (w *writer) closeStmts() error {
	var errs []error
	for _, s := range []*sql.Stmt{w.insertEvent, w.deleteEvent, w.upsertCell, w.subtractCell, w.deleteEmptyCell} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// writeTx is one write transaction with the writer's statements bound to it.
type writeTx struct {
	ctx    context.Context
	tx     *sql.Tx
	w      *writer
	bound  map[*sql.Stmt]*sql.Stmt
	deltas []cellDelta // the cell changes made so far (since replace)
	// replace, when set, is a cube rebuilt within the transaction, which
	// replaces the store's after the commit.
	replace *cube.Cube
}

// stmt returns s bound to the transaction, binding each statement once per
// transaction rather than once per row.
func (t *writeTx) stmt(s *sql.Stmt) *sql.Stmt {
	if b, ok := t.bound[s]; ok {
		return b
	}
	if t.bound == nil {
		t.bound = make(map[*sql.Stmt]*sql.Stmt, 4)
	}
	b := t.tx.StmtContext(t.ctx, s)
	t.bound[s] = b
	return b
}

func (t *writeTx) exec(s *sql.Stmt, args ...any) (sql.Result, error) {
	r, err := t.stmt(s).ExecContext(t.ctx, args...)
	if err != nil {
		return nil, translate(err)
	}
	return r, nil
}

// insertEvent stores e unless its id is already stored, and reports whether
// it did. It does not touch the cells.
func (t *writeTx) insertEvent(e *tally.Event) (bool, error) {
	r, err := t.exec(t.w.insertEvent, e.ID[:], e.Timestamp.UnixMicro(), int64(e.DeviceType),
		int64(e.Category), int64(e.Client), int64(e.ClientGroup), e.Valid, e.Value)
	if err != nil {
		return false, fmt.Errorf("sqlite: insert event: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: insert event: %w", err)
	}
	return n == 1, nil
}

// deleteEvent removes the event and returns it, or reports that there was
// none. It does not touch the cells.
func (t *writeTx) deleteEvent(id tally.ID) (tally.Event, bool, error) {
	e := tally.Event{ID: id}
	err := scanEvent(t.stmt(t.w.deleteEvent).QueryRowContext(t.ctx, id[:]), &e)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return e, false, nil
	case err != nil:
		return e, false, fmt.Errorf("sqlite: delete event: %w", translate(err))
	}
	return e, true, nil
}

// addCell adds count events with the given sum of values to the cell k.
func (t *writeTx) addCell(k tally.CellKey, count int64, sum float64) error {
	_, err := t.exec(t.w.upsertCell, k.Bucket, int64(k.DeviceType), int64(k.Category),
		int64(k.Client), int64(k.ClientGroup), k.Valid, count, sum)
	if err != nil {
		return fmt.Errorf("sqlite: add to cell: %w", err)
	}
	t.deltas = append(t.deltas, cellDelta{k, count, sum})
	return nil
}

// subtractCell takes count events with the given sum of values out of the
// cell k, and drops the cell once it counts nothing, so that reports never
// see empty groups and no rounding residue of the sum survives.
func (t *writeTx) subtractCell(k tally.CellKey, count int64, sum float64) error {
	key := []any{k.Bucket, int64(k.DeviceType), int64(k.Category), int64(k.Client), int64(k.ClientGroup), k.Valid}
	if _, err := t.exec(t.w.subtractCell, append([]any{count, sum}, key...)...); err != nil {
		return fmt.Errorf("sqlite: subtract from cell: %w", err)
	}
	if _, err := t.exec(t.w.deleteEmptyCell, key...); err != nil {
		return fmt.Errorf("sqlite: drop empty cell: %w", err)
	}
	t.deltas = append(t.deltas, cellDelta{k, -count, -sum})
	return nil
}
