package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tallyhq/tally"
)

// Knobs sizes the write path down so that tests reach many epochs and
// filter groups, Bloom filter false positives and snapshot refreshes with
// a few hundred events.
type Knobs struct {
	EpochShift uint  // an event's epoch is seq >> EpochShift
	GroupShift uint  // one Bloom filter per seq >> GroupShift
	FilterBits uint  // each filter's size in bits (whole 512-bit blocks, at least one)
	BacklogMin int64 // refresh once the backlog passes max(BacklogMin, events/4)
	Chunk      int   // rows per INSERT, a power of two
	ImageEvery int64 // a start-up image after this many changes; 0: the default
}

// WithKnobs returns opts with the write path sized by k.
func WithKnobs(opts Options, k Knobs) Options {
	opts.knobs = knobs{epochShift: k.EpochShift, groupShift: k.GroupShift, filterBits: k.FilterBits,
		backlogMin: k.BacklogMin, chunk: k.Chunk, imageEvery: k.ImageEvery}
	if k.ImageEvery == 0 {
		opts.knobs.imageEvery = defaultKnobs().imageEvery
	}
	return opts
}

// SaveImage writes a start-up image of the committed state now and
// returns once the file records it. An image being published (after an
// Open that rebuilt) is waited for first.
func (s *Store) SaveImage(ctx context.Context) error {
	errBusy := errors.New("an image is being published")
	for {
		done := make(chan error, 1)
		err := s.w.submit(&writeReq{ctx: ctx, kind: reqBetween, between: func() error {
			if s.w.imaging.Load() {
				return errBusy
			}
			return s.w.writeImage(done)
		}})
		switch {
		case errors.Is(err, errBusy):
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			return err
		}
		return <-done
	}
}

// Loaded says how Open got the store's memory: "image", or "rebuilt: "
// and why the image was not used.
func (s *Store) Loaded() string { return s.w.loaded }

// FilterBytes is the memory of the store's Bloom filters.
func (s *Store) FilterBytes() int { return s.w.filters.bytes() }

// FilterMaybes is how many Bloom filters say they may hold id.
func (s *Store) FilterMaybes(id tally.ID) int {
	f := s.w.filters
	return len(f.maybe(nil, f.hash(id)))
}

// Op is one write of InOneTransaction: Create when non-nil, else Delete.
type Op struct {
	Create []tally.Event
	Delete tally.ID
}

// InOneTransaction runs ops in order in one write transaction, as requests
// of one commit group would, and returns each create's outcomes and each
// delete's error.
func (s *Store) InOneTransaction(ctx context.Context, ops []Op) ([][]bool, []error, error) {
	inserted := make([][]bool, len(ops))
	errs := make([]error, len(ops))
	err := s.w.submit(&writeReq{ctx: ctx, kind: reqExclusive, fn: func(t *writeTx) error {
		for i, op := range ops {
			if op.Create != nil {
				events := slices.Clone(op.Create)
				for j := range events {
					events[j].Normalize()
				}
				inserted[i] = make([]bool, len(events))
				if err := t.create(events, inserted[i]); err != nil {
					return err
				}
				continue
			}
			var rej rejection
			if err := t.delete(op.Delete); errors.As(err, &rej) {
				errs[i] = rej.err
			} else if err != nil {
				return err
			}
		}
		return nil
	}})
	return inserted, errs, err
}

// LimitPages caps the file at n pages on the write connection (SQLite's
// max_page_count; below the file's size it means its size): a write that
// needs more fails as on a full disk, which is how tests fill the disk.
func (s *Store) LimitPages(ctx context.Context, n int64) error {
	_, err := s.w.db.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n))
	return err
}

// SlotNeeded says whether q's sub-day rollup is still to be built.
func (s *Store) SlotNeeded(q tally.ReportQuery) bool {
	_, ok := s.cube.Load().SlotNeed(&q)
	return ok
}
