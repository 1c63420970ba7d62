package mongo

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// view is this instance's in-memory rollup: the cells, loaded at start,
// plus every resolved journal entry after them, whichever instance wrote
// it. Entries resolve out of number order (each writer resolves its own),
// so the view keeps the number up to which it has applied all (h) and the
// numbers above it applied already; each entry is applied once.
type view struct {
	// pub is what reports read; cur is what entries are applied to, the
	// same cube except while a load fills a new one.
	pub atomic.Pointer[cube.Cube]

	mu      sync.Mutex // serializes applying and reloading
	cur     *cube.Cube
	h       int64
	applied map[int64]bool
	gen     int64 // the journal's repair generation the view was loaded at
	budget  int   // cells the sub-day rollups may hold (Options.SubDayCells)
	// scan, while a sub-day rollup build reads the events, is what the
	// build needs from the entries applied meanwhile (slots.go).
	scan *slotScan
}

// applyLocal applies the entry this instance just resolved, before its
// callers are answered; gone are the events its deletes took out.
func (v *view) applyLocal(seq int64, c *cellChanges, gone []eventDoc) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.apply(seq, c, gone)
	return nil
}

// has reports whether the view has applied entry seq, which is then
// resolved.
func (v *view) has(seq int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return seq <= v.h || v.applied[seq]
}

// apply adds an entry's changes unless the view has them. Callers hold mu.
func (v *view) apply(seq int64, c *cellChanges, gone []eventDoc) {
	if seq <= v.h || v.applied[seq] {
		return
	}
	if v.scan != nil {
		v.scan.gone = append(v.scan.gone, gone...)
	}
	cb := v.cur
	for _, k := range c.keys {
		ch := c.changes[k]
		if ch.count != 0 || !ch.sum.IsZero() {
			cb.Add(k, ch.count, ch.sum)
		}
	}
	v.applied[seq] = true
	for v.applied[v.h+1] {
		delete(v.applied, v.h+1)
		v.h++
	}
}

// catchUp applies the entries resolved since the last call, or reloads
// when the journal no longer holds them or Repair rewrote the cells.
func (v *view) catchUp(ctx context.Context, s *Store) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.catchUpLocked(ctx, s)
}

// catchUpLocked is catchUp for callers that hold mu.
func (v *view) catchUpLocked(ctx context.Context, s *Store) error {
	m, err := s.journalMeta(ctx)
	if err != nil {
		return err
	}
	if m.Trimmed > v.h || m.Gen != v.gen {
		return v.load(ctx, s)
	}
	return v.readJournal(ctx, s, v.h, nil)
}

// readJournal applies every resolved entry after from; seqs, when set,
// holds the number up to which a loaded cell already has the entries.
func (v *view) readJournal(ctx context.Context, s *Store, from int64, seqs map[tally.CellKey]int64) error {
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: from}}}, {Key: "done", Value: true}}
	find := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetProjection(bson.D{{Key: "deltas", Value: 1}, {Key: "gone", Value: 1}})
	return each(ctx, s.journal, filter, find, "journal", func(e *entryDoc) error {
		if e.Seq <= v.h || v.applied[e.Seq] {
			return nil
		}
		var c cellChanges
		for i := range e.Deltas {
			d := &e.Deltas[i]
			if seqs != nil {
				day, err := d.dayKey()
				if err != nil {
					return err
				}
				if seqs[day] >= e.Seq {
					continue // the loaded cell holds it
				}
			}
			k, err := d.slotKey()
			if err != nil {
				return err
			}
			c.add(k, d.Count, tally.DecimalFromLimbs(d.SumHi, d.SumLo))
		}
		v.apply(e.Seq, &c, e.Gone)
		return nil
	})
}

// load builds the view from the cells and the journal, without sub-day
// rollups: a build in progress is dropped, and the next report that needs
// one builds it again from the events. The roller's
// progress is read first: every cell holds every entry up to it, and each
// cell read holds those up to its own seq, which may be later (a group
// being folded meanwhile), so each later entry is applied to exactly the
// cells that lack it. Callers hold mu.
func (v *view) load(ctx context.Context, s *Store) (err error) {
	defer func() {
		if err != nil {
			v.gen = -1 // half loaded: the next catch-up loads again
		}
	}()
	for {
		m, err := s.journalMeta(ctx)
		if err != nil {
			return err
		}
		var l leaseDoc
		if err := s.meta.FindOne(ctx, rollerKey).Decode(&l); err != nil && !errors.Is(err, driver.ErrNoDocuments) {
			return unavailable("read roller progress", err)
		}
		c := cube.NewWithSlotBudget(v.budget)
		v.scan = nil
		seqs := make(map[tally.CellKey]int64)
		err = s.eachCell(ctx, bson.D{}, func(cd *cellDoc) error {
			k, err := cd.key()
			if err != nil {
				return err
			}
			if cd.Count != 0 {
				c.Add(k, cd.Count, cd.sum())
			}
			if cd.Seq > l.Rolled {
				seqs[k] = cd.Seq
			}
			return nil
		})
		if err != nil {
			return err
		}
		v.cur, v.h, v.applied, v.gen = c, l.Rolled, make(map[int64]bool), m.Gen
		if err := v.readJournal(ctx, s, l.Rolled, seqs); err != nil {
			return err
		}
		v.pub.Store(c)
		// Entries after Rolled trimmed meanwhile, or cells rewritten: the
		// view may have missed some; read again.
		after, err := s.journalMeta(ctx)
		if err != nil {
			return err
		}
		if after.Trimmed <= l.Rolled && after.Gen == m.Gen {
			return nil
		}
	}
}
