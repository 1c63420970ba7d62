package mongo

import (
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// Verify waits until every write numbered when it is called is folded into
// the cells, then recomputes every cell from the raw events as of the last
// folded journal entry and returns the cells that disagree, ordered by key.
// Writes of other instances while it reads may show up as differences:
// run it on a quiet store, or twice.
func (s *Store) Verify(ctx context.Context) ([]tally.CellDiff, error) {
	rolled, err := s.settle(ctx)
	if err != nil {
		return nil, err
	}
	return s.diff(ctx, rolled)
}

// diff compares the cells with the events as of entry rolled: an event
// counts when the entry that inserted it is folded and the one that
// deleted it (if any) is not.
func (s *Store) diff(ctx context.Context, rolled int64) ([]tally.CellDiff, error) {
	want := make(map[tally.CellKey]*cellChange)
	err := s.eachEvent(ctx, bson.D{}, func(d *eventDoc) error {
		if d.J > rolled || (d.Del != 0 && d.Del <= rolled) {
			return nil
		}
		k, v, err := d.dayCell()
		if err != nil {
			return err
		}
		c := want[k]
		if c == nil {
			c = &cellChange{}
			want[k] = c
		}
		c.count++
		c.sum = c.sum.Add(v)
		return nil
	})
	if err != nil {
		return nil, err
	}

	var diffs []tally.CellDiff
	err = s.eachCell(ctx, bson.D{}, func(c *cellDoc) error {
		k, err := c.key()
		if err != nil {
			return err
		}
		w := want[k]
		delete(want, k)
		if w == nil {
			w = &cellChange{}
		}
		if c.Count != w.count || c.sum() != w.sum {
			diffs = append(diffs, tally.CellDiff{Key: k,
				Stored: tally.Totals{Count: c.Count, Sum: c.sum()}, Recomputed: tally.Totals{Count: w.count, Sum: w.sum}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k, w := range want { // cells missing altogether
		diffs = append(diffs, tally.CellDiff{Key: k, Recomputed: tally.Totals{Count: w.count, Sum: w.sum}})
	}
	slices.SortFunc(diffs, func(a, b tally.CellDiff) int {
		return compareKeys(a.Key, b.Key)
	})
	return diffs, nil
}

// Repair overwrites each cell that disagrees with the raw events (see
// Verify) with the value recomputed from them, and returns how many cells
// it wrote. With the journal the cells converge on their own after a
// crash; Repair is for damage from outside (a restore that copied events
// and cells at different moments, a write applied after its writer's
// lease). It refuses to run while another instance holds a lease, because
// their writes would race with the rewrite; it runs in this Store's writer
// and holds the roller, so nothing of this instance interleaves. Every
// instance's view reloads the repaired cells.
func (s *Store) Repair(ctx context.Context) (int, error) {
	others, err := s.liveInstances(ctx)
	if err != nil {
		return 0, err
	}
	if len(others) > 0 {
		return 0, tally.Errorf(tally.EUnavailable,
			"repair refused: %d other Tally instance(s) are running on this database (%s); stop them first, or wait %s after they stopped",
			len(others), strings.Join(others, ", "), s.lease+leaseMargin)
	}
	var n int
	err = s.submit(ctx, &writeReq{run: func(context.Context) error {
		rolled, err := s.settle(ctx)
		if err != nil {
			return err
		}
		s.rollMu.Lock()
		defer s.rollMu.Unlock()
		diffs, err := s.diff(ctx, rolled)
		if err != nil {
			return err
		}
		for _, d := range diffs {
			id := bson.D{{Key: "_id", Value: cellID(d.Key)}}
			if d.Recomputed.Count == 0 {
				if _, err := s.cells.DeleteOne(ctx, id); err != nil {
					return unavailable("repair cell", err)
				}
				n++
				continue
			}
			k := d.Key
			hi, lo, err := limbs(d.Recomputed.Sum)
			if err != nil {
				return err
			}
			doc := cellDoc{ID: cellID(k), Day: k.Bucket, DeviceType: deviceField(k.DeviceType),
				Category: categoryField(k.Category), Client: k.Client, ClientGroup: k.ClientGroup,
				Valid: k.Valid, Count: d.Recomputed.Count, SumHi: hi, SumLo: lo, Seq: rolled}
			if _, err := s.cells.ReplaceOne(ctx, id, doc, options.Replace().SetUpsert(true)); err != nil {
				return unavailable("repair cell", err)
			}
			n++
		}
		if n == 0 {
			return nil
		}
		if _, err := s.meta.UpdateOne(ctx, journalID, bson.D{{Key: "$inc", Value: bson.D{{Key: "gen", Value: int64(1)}}}},
			options.UpdateOne().SetUpsert(true)); err != nil {
			return unavailable("mark repair", err)
		}
		s.view.mu.Lock()
		defer s.view.mu.Unlock()
		return s.view.load(ctx, s)
	}})
	return n, err
}

func compareKeys(a, b tally.CellKey) int {
	q := tally.ReportQuery{GroupBy: tally.Dimensions}
	return q.Compare(&tally.Row{Key: a}, &tally.Row{Key: b})
}
