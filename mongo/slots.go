package mongo

import (
	"bytes"
	"context"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// Sub-day rollups. Each instance's view keeps, beside the day cells, the
// 15-minute slot rollups (internal/cube) of the projections that reports in
// other zones or by hour have asked for: built on first use by one scan of
// the events, then kept current from the journal, whose deltas are at slot
// grain, like the day cells.
//
// A scan of the events is not a snapshot (FerretDB has none, and the
// deployment's writers go on), so the build fixes its position by the
// journal instead: the view's applied entries when it begins (A). An event
// counts when the entry that inserted it is in A (or it predates the
// journal) and the entry that deleted it, if any, is not; the entries
// applied meanwhile reach the rollup through the cube's queue. The one
// thing a scan cannot see is an event removed (a transaction's delete, a
// tombstone cleared) before the scan reached it, by an entry outside A,
// whose -1 then arrives through the queue without the +1. So the build
// records the ids it counted, brings the view up to every entry resolved
// by the end of the scan (any later removal comes after the scan), and
// adds back each event those entries took out (entryDoc.Gone) that was live
// in A and not counted.

// awaitSlots returns a channel closed once the sub-day rollup q needs has
// been built (or refused as too large, or failed), and false when q needs
// none that may still be built. Builds run under the Store's life, not
// the request's.
func (s *Store) awaitSlots(q *tally.ReportQuery) (<-chan struct{}, bool) {
	need, ok := s.view.pub.Load().SlotNeed(q)
	if !ok {
		return nil, false
	}
	return s.slotBuilds.Await(need, func(needs []cube.SlotNeed) {
		if err := s.buildSlots(s.life, needs); err != nil {
			s.log("sub-day rollup build", err)
		}
	}), true
}

// slotScan is what a build needs from the view: the entries applied when
// it began (A: up to h, and applied), and the events taken out by those
// applied since.
type slotScan struct {
	h       int64
	applied map[int64]bool
	gone    []eventDoc
}

// in reports whether entry seq is in A; 0, an event older than the
// journal, is.
func (sc *slotScan) in(seq int64) bool { return seq <= sc.h || sc.applied[seq] }

// buildSlots builds the view's sub-day rollups for needs with one scan of
// the events (see the top of this file).
func (s *Store) buildSlots(ctx context.Context, needs []cube.SlotNeed) error {
	sb, ok := s.beginSlots(needs)
	if !ok {
		return nil
	}
	counted, err := s.scanSlots(ctx, sb.scan, sb.b)
	return s.finishSlots(ctx, sb, counted, err)
}

// slotBuild is one build in progress.
type slotBuild struct {
	c    *cube.Cube // the view's cube it fills
	b    *cube.SlotBuild
	scan *slotScan
}

// beginSlots starts a build of the rollups of needs not built yet, at the
// view's current position; false when there is none to build.
func (s *Store) beginSlots(needs []cube.SlotNeed) (*slotBuild, bool) {
	v := s.view
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.cur.BeginSlots(needs...)
	if !ok {
		return nil, false
	}
	sb := &slotBuild{c: v.cur, b: b, scan: &slotScan{h: v.h, applied: maps.Clone(v.applied)}}
	v.scan = sb.scan
	return sb, true
}

// finishSlots ends a build whose scan returned counted and err: it brings
// the view up to every entry resolved by now, adds back the events those
// took out that the scan missed, and makes the rollups serve reports.
func (s *Store) finishSlots(ctx context.Context, sb *slotBuild, counted func(id string) bool, err error) error {
	v := s.view
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		err = v.catchUpLocked(ctx, s)
	}
	if v.scan == sb.scan {
		v.scan = nil
	}
	if err != nil || v.cur != sb.c {
		// Failed, or the view reloaded meanwhile: its new cube has no
		// rollups, and the next report that needs one builds it again.
		sb.b.Abort()
		return err
	}
	for i := range sb.scan.gone {
		g := &sb.scan.gone[i]
		if !sb.scan.in(g.J) || counted(g.ID) {
			continue
		}
		k, val, err := g.slotCell()
		if err != nil {
			sb.b.Abort()
			return err
		}
		sb.b.Add(k, 1, val)
	}
	sb.b.Finish()
	return nil
}

// slotScanProjection is what a build reads of each event.
var slotScanProjection = bson.D{
	{Key: "device_type", Value: 1}, {Key: "category", Value: 1}, {Key: "client", Value: 1},
	{Key: "client_group", Value: 1}, {Key: "ts", Value: 1}, {Key: "valid", Value: 1},
	{Key: "value", Value: 1}, {Key: "value_lo", Value: 1}, {Key: "value_hi", Value: 1},
	{Key: "j", Value: 1}, {Key: "del", Value: 1},
}

// scanSlots adds every event that counts at sc's position to b, and returns
// whether an id was among them. The ids take 16 bytes an event until the
// build ends.
func (s *Store) scanSlots(ctx context.Context, sc *slotScan, b *cube.SlotBuild) (func(id string) bool, error) {
	var ids []tally.ID
	err := each(ctx, s.events, bson.D{}, options.Find().SetProjection(slotScanProjection), "events", func(d *eventDoc) error {
		if !sc.in(d.J) || (d.Del != 0 && sc.in(d.Del)) {
			return nil
		}
		k, val, err := d.slotCell()
		if err != nil {
			return err
		}
		id, err := tally.ParseID(d.ID)
		if err != nil {
			return tally.Errorf(tally.EInternal, "stored event id %q: %v", d.ID, err)
		}
		b.Add(k, 1, val)
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	cmpID := func(a, b tally.ID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(ids, cmpID)
	return func(s string) bool {
		id, err := tally.ParseID(s)
		if err != nil {
			return false
		}
		_, ok := slices.BinarySearchFunc(ids, id, cmpID)
		return ok
	}, nil
}
