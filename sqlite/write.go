package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/tallyhq/tally"
)

// writer owns the only connection that writes and runs one write
// transaction at a time. It is the seam where group commit (many callers
// sharing one transaction) will go: callers only describe their work as a
// function of a writeTx.
type writer struct {
	mu     sync.Mutex
	db     *sql.DB // at most one connection
	closed bool

	insertEvent, deleteEvent *sql.Stmt
	upsertCell, subtractCell *sql.Stmt
	deleteEmptyCell          *sql.Stmt
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	w := &writer{db: db}
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
	return w, nil
}

// do runs fn in a write transaction and commits it, or rolls it back when fn
// fails. A commit returns only once SQLite has made it durable (as durable as
// the synchronous option asks).
func (w *writer) do(ctx context.Context, fn func(*writeTx) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return tally.Errorf(tally.EUnavailable, "store is closed")
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", translate(err))
	}
	if err := fn(&writeTx{ctx: ctx, tx: tx, w: w}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", translate(err))
	}
	return nil
}

// close waits for the write under way, then closes the connection.
func (w *writer) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
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
	ctx   context.Context
	tx    *sql.Tx
	w     *writer
	bound map[*sql.Stmt]*sql.Stmt
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
	return nil
}
