package sqlite

import (
	"context"
	"fmt"
	"slices"

	"github.com/tallyhq/tally"
)

// deleteBatch is how many events one transaction of DeleteEvents removes:
// small enough that the writes and deletes queued behind it wait
// milliseconds, not seconds.
const deleteBatch = 2000

// DeleteEvents removes the events f selects that are stored when it
// begins. It reads them in seq order from the read pool, checks each
// against f exactly as reports count it, and removes them in transactions
// of deleteBatch events, each its own writer request, so that other
// writes interleave with them; an event deleted meanwhile is skipped.
func (s *Store) DeleteEvents(ctx context.Context, f tally.Filter) (int64, error) {
	var last int64
	if err := s.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("sqlite: delete events: %w", translate(err))
	}
	w := eventsWhere(&f)
	match := f.Matcher()
	var (
		deleted int64
		after   int64
		seqs    = make([]int64, 0, deleteBatch)
	)
	for after < last {
		seqs = seqs[:0]
		next, err := s.matching(ctx, &w, match, after, last, &seqs)
		if err != nil {
			return deleted, err
		}
		if len(seqs) > 0 {
			var n int64
			err := s.w.submit(&writeReq{ctx: ctx, kind: reqExclusive, fn: func(t *writeTx) error {
				for _, seq := range seqs {
					ok, err := t.deleteSeq(seq)
					if err != nil {
						return err
					}
					if ok {
						n++
					}
				}
				return nil
			}})
			if err != nil {
				return deleted, err
			}
			deleted += n
		}
		after = next
	}
	return deleted, nil
}

// matching appends to seqs the seqs in (after, last] of up to deleteBatch
// events that w and match select, and returns the seq to go on after.
func (s *Store) matching(ctx context.Context, w *where, match func(*tally.CellKey) bool, after, last int64, seqs *[]int64) (int64, error) {
	q := where{conds: slices.Clone(w.conds), args: slices.Clone(w.args)}
	q.add("seq > ?", after)
	q.add("seq <= ?", last)
	rows, err := s.read.QueryContext(ctx, `SELECT seq, ts, device_type, category, client, client_group, valid
		FROM events`+q.String()+` ORDER BY seq LIMIT ?`, append(q.args, deleteBatch)...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete events: %w", translate(err))
	}
	defer rows.Close()
	var (
		k            tally.CellKey
		seq, ts, dev int64
		cat          int64
		n            int
	)
	next := last
	for rows.Next() {
		if err := rows.Scan(&seq, &ts, &dev, &cat, &k.Client, &k.ClientGroup, &k.Valid); err != nil {
			return 0, fmt.Errorf("sqlite: delete events: %w", translate(err))
		}
		n++
		k.Bucket = floorDiv(ts, 1e6)
		k.DeviceType, k.Category = tally.DeviceType(dev), tally.Category(cat)
		if match(&k) {
			*seqs = append(*seqs, seq)
		}
		next = seq
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: delete events: %w", translate(err))
	}
	if n < deleteBatch {
		next = last // no more rows in range
	}
	return next, nil
}
