package mongo

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// Verify recomputes every rollup cell from the raw events and returns the
// cells that disagree, ordered by key. Without transactions a crash between
// a batch's raw write and its cell write leaves such cells. Writes in flight
// while it reads show up as differences too: run it on a quiet store, or
// twice.
func (s *Store) Verify(ctx context.Context) ([]tally.CellDiff, error) {
	want := make(map[tally.CellKey]*cellChange)
	cur, err := s.events.Find(ctx, bson.D{}, options.Find().SetBatchSize(readBatch).SetProjection(eventProjection))
	if err != nil {
		return nil, unavailable("read events", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		var d eventDoc
		if err := cur.Decode(&d); err != nil {
			return nil, unavailable("decode event", err)
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		k.Bucket = d.Day
		c := want[k]
		if c == nil {
			c = &cellChange{}
			want[k] = c
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		c.count++
		c.sum = c.sum.Add(v)
	}
	if err := cur.Err(); err != nil {
		return nil, unavailable("read events", err)
	}

	var diffs []tally.CellDiff
	cur2, err := s.cells.Find(ctx, bson.D{}, options.Find().SetBatchSize(readBatch))
	if err != nil {
		return nil, unavailable("read cells", err)
	}
	defer cur2.Close(context.WithoutCancel(ctx))
	for cur2.Next(ctx) {
		var c cellDoc
		if err := cur2.Decode(&c); err != nil {
			return nil, unavailable("decode cell", err)
		}
		k, err := c.key()
		if err != nil {
			return nil, err
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
	}
	if err := cur2.Err(); err != nil {
		return nil, unavailable("read cells", err)
	}
	for k, w := range want { // cells missing altogether
		diffs = append(diffs, tally.CellDiff{Key: k, Recomputed: tally.Totals{Count: w.count, Sum: w.sum}})
	}
	slices.SortFunc(diffs, func(a, b tally.CellDiff) int {
		return compareKeys(a.Key, b.Key)
	})
	return diffs, nil
}

// Repair runs Verify and overwrites each disagreeing cell with the value
// recomputed from the raw events, and returns how many cells it wrote. It
// runs in this Store's writer, so no write of this process interleaves;
// other Tally processes writing to the same database must be stopped first.
func (s *Store) Repair(ctx context.Context) (int, error) {
	var n int
	err := s.submit(ctx, &writeReq{run: func(ctx context.Context) error {
		diffs, err := s.Verify(ctx)
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
				Valid: k.Valid, Count: d.Recomputed.Count, SumHi: hi, SumLo: lo}
			if _, err := s.cells.ReplaceOne(ctx, id, doc, options.Replace().SetUpsert(true)); err != nil {
				return unavailable("repair cell", err)
			}
			n++
		}
		return nil
	}})
	return n, err
}

func compareKeys(a, b tally.CellKey) int {
	q := tally.ReportQuery{GroupBy: tally.Dimensions}
	return q.Compare(&tally.Row{Key: a}, &tally.Row{Key: b})
}
