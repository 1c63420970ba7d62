package sqlite

import (
	"context"
	"fmt"

	"github.com/tallyhq/tally"
)

var _ tally.Checker = (*Store)(nil)

// eventDay is an event's UTC day in Unix seconds. SQLite's integer division
// truncates towards zero; the subtraction floors it for events before 1970.
const eventDay = `(ts / 86400000000 - (ts % 86400000000 < 0)) * 86400`

// eventLimbs are an event's value as the limbs of a cell's sum (see
// exactValues): adding them with SQL's integer sum() is exact.
const eventLimbs = `(value_hi << 32) + (value_lo >> 32) AS hi, value_lo & 4294967295 AS lo`

// recomputed groups the raw events into day cells, in the cells table's key
// order.
const recomputed = `SELECT day, device_type, category, client, client_group, valid, count(*), sum(hi), sum(lo)
	FROM (SELECT ` + eventDay + ` AS day, device_type, category, client, client_group, valid, ` + eventLimbs + `
		FROM events)
	GROUP BY day, device_type, category, client, client_group, valid
	ORDER BY day, device_type, category, client, client_group, valid`

// durable is what the store rebuilds its cells from at Open: each day's
// snapshot in cells plus the day's events above the snapshot's seq (a day
// without a snapshots row counts from seq 0), in the same order.
const durable = `SELECT day, device_type, category, client, client_group, valid, sum(count), sum(hi), sum(lo) FROM (
		SELECT day, device_type, category, client, client_group, valid, count, sum_hi AS hi, sum_lo AS lo FROM cells
		UNION ALL
		SELECT e.day, device_type, category, client, client_group, valid, 1, ` + eventLimbs + `
		FROM (SELECT ` + eventDay + ` AS day, * FROM events) AS e
		LEFT JOIN snapshots AS s ON s.day = e.day
		WHERE e.seq > coalesce(s.seq, 0)
	)
	GROUP BY day, device_type, category, client, client_group, valid
	ORDER BY day, device_type, category, client, client_group, valid`

// Verify recomputes every cell from the raw events and returns the cells
// that differ from what the file holds: the snapshot cells plus the events
// above each day's snapshot, which is what Open loads. It reads one
// snapshot of the file, so it can run beside writers.
func (s *Store) Verify(ctx context.Context) ([]tally.CellDiff, error) {
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify: %w", translate(err))
	}
	defer tx.Rollback()
	// Both sides come sorted by key; holding the stored side in memory keeps
	// the code simple and costs 56 bytes a cell.
	var stored []tally.CellDiff
	err = scanCells(ctx, tx, durable,
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
			if d.Stored.Count != t.Count || d.Stored.Sum != t.Sum {
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

// Repair rebuilds the cells of every day from the raw events in one write
// transaction, serialized with other writes, marks every day's snapshot
// complete up to the newest seq, and swaps in a cube loaded from the result.
func (s *Store) Repair(ctx context.Context) (int, error) {
	var n int
	r := &writeReq{ctx: ctx, kind: reqExclusive, fn: func(t *writeTx) error {
		last := t.w.nextSeq - 1
		for _, q := range []string{
			`DELETE FROM cells`,
			`INSERT INTO cells (day, device_type, category, client, client_group, valid, count, sum_hi, sum_lo) ` + recomputed,
			`DELETE FROM snapshots`,
			// The cube is replaced: no image taken before counts.
			`DELETE FROM meta WHERE name = '` + metaImage + `'`,
			`DELETE FROM tombstones`,
		} {
			if _, err := t.tx.ExecContext(t.ctx, q); err != nil {
				return fmt.Errorf("sqlite: repair: %w", translate(err))
			}
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO snapshots (day, seq) SELECT DISTINCT day, ? FROM cells`, last); err != nil {
			return fmt.Errorf("sqlite: repair: %w", translate(err))
		}
		c, events, err := loadCube(t.ctx, t.tx, t.w.k.slotBudget)
		if err != nil {
			return fmt.Errorf("sqlite: repair: %w", err)
		}
		days := make(map[int64]dayState)
		err = scanDays(t.ctx, t.tx, func(day int64) { days[day] = dayState{snap: last} })
		if err != nil {
			return fmt.Errorf("sqlite: repair: %w", err)
		}
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM cells`).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: repair: %w", translate(err))
		}
		// Changes made earlier in this transaction are in the new cube.
		t.replace, t.deltas = c, t.deltas[:0]
		t.days, t.reset, t.backlog, t.events = days, true, 0, events
		t.newImageGen = true
		return nil
	}}
	if err := s.w.submit(r); err != nil {
		return 0, err
	}
	return n, nil
}

func scanDays(ctx context.Context, db querier, fn func(day int64)) error {
	rows, err := db.QueryContext(ctx, `SELECT day FROM snapshots`)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return translate(err)
		}
		fn(d)
	}
	return translate(rows.Err())
}
