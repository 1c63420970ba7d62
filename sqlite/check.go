package sqlite

import (
	"context"
	"fmt"

	"github.com/tallyhq/tally"
)

var _ tally.Checker = (*Store)(nil)

// recomputed groups the raw events into day cells, in the cells table's key
// order. SQLite's integer division truncates towards zero; the subtraction
// floors it for events before 1970.
const recomputed = `SELECT (ts / 86400000000 - (ts % 86400000000 < 0)) * 86400 AS day,
		device_type, category, client, client_group, valid, count(*), sum(value)
	FROM events
	GROUP BY day, device_type, category, client, client_group, valid
	ORDER BY day, device_type, category, client, client_group, valid`

// Verify recomputes every cell from the raw events and returns the cells
// that differ from the stored ones. It reads one snapshot of the file, so it
// can run beside writers.
func (s *Store) Verify(ctx context.Context) ([]tally.CellDiff, error) {
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify: %w", translate(err))
	}
	defer tx.Rollback()
	// Both sides come sorted by key; holding the stored side in memory keeps
	// the code simple and costs 56 bytes a cell.
	var stored []tally.CellDiff
	err = scanCells(ctx, tx, `SELECT day, device_type, category, client, client_group, valid, count, sum FROM cells
		ORDER BY day, device_type, category, client, client_group, valid`,
		func(k tally.CellKey, t tally.Totals) { stored = append(stored, tally.CellDiff{Key: k, Stored: t}) })
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify: read cells: %w", err)
	}
	var diffs []tally.CellDiff
	i := 0
	err = scanCells(ctx, tx, recomputed, func(k tally.CellKey, t tally.Totals) {
		for i < len(stored) && compareCellKeys(stored[i].Key, k) < 0 {
			diffs = append(diffs, stored[i]) // no events left in this cell
			i++
		}
		if i < len(stored) && stored[i].Key == k {
			d := stored[i]
			i++
			if d.Stored.Count != t.Count || !tally.SameSum(d.Stored.Sum, t.Sum) {
				d.Recomputed = t
				diffs = append(diffs, d)
			}
			return
		}
		diffs = append(diffs, tally.CellDiff{Key: k, Recomputed: t})
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify: recompute: %w", err)
	}
	return append(diffs, stored[i:]...), nil
}

// Repair rebuilds the cells from the raw events in one write transaction,
// serialized with other writes, and swaps in a cube loaded from the result.
func (s *Store) Repair(ctx context.Context) (int, error) {
	var n int
	err := s.w.do(ctx, func(t *writeTx) error {
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM cells`); err != nil {
			return fmt.Errorf("sqlite: repair: %w", translate(err))
		}
		r, err := t.tx.ExecContext(t.ctx, `INSERT INTO cells (day, device_type, category, client, client_group, valid, count, sum) `+recomputed)
		if err != nil {
			return fmt.Errorf("sqlite: repair: %w", translate(err))
		}
		rows, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: repair: %w", translate(err))
		}
		c, err := loadCube(t.ctx, t.tx)
		if err != nil {
			return fmt.Errorf("sqlite: repair: %w", err)
		}
		// Changes made earlier in this transaction are in the new cube.
		t.replace, t.deltas, n = c, t.deltas[:0], int(rows)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
