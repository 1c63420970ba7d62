package cube

import (
	"time"

	"github.com/tallyhq/tally"
)

// SlotWidth is the grain of the sub-day rollups, in seconds: 15 minutes.
// Every UTC offset the tz database has used since 1980 is a multiple of it
// (a test over the database checks it), so every bucket and bound of every
// zone and granularity — local hours, days, weeks and months, DST changes
// of 30 minutes included — is a whole number of slots.
const SlotWidth = 15 * 60

const slotsPerDay = tally.SecondsPerDay / SlotWidth

// alignedSince is when every zone's offset became a multiple of SlotWidth
// (Africa/Monrovia's -0:44:30 ended in 1972, Pacific/Kiritimati's -10:40 in
// 1979). Reports in a zone that reach before it are checked day by day.
var alignedSince = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// DefaultSlotBudget bounds the cells of all sub-day rollups together: 40
// bytes each, so 1.5M cells are 60 MiB. At 10M generator events over 90
// days the time-only, device and valid projections take about 10k cells
// each and the 128-client projection about 1.1M.
const DefaultSlotBudget = 1_500_000

// slots is one projection's sub-day rollup: per UTC day, cells keyed by the
// projected dimensions and the slot of the day (key.quarter). It is built
// from one snapshot of the raw events and kept current by Add.
type slots struct {
	days  map[int32]*day
	cells int // cells added so far, an upper bound of those held
	ready bool
	// pending holds the changes committed after the build's snapshot, in
	// order, until the build is finished.
	pending []change
}

type change struct {
	k tally.CellKey
	a agg
}

// add folds one change into the slots, or queues it while they are built.
// The caller holds the cube's write lock.
func (s *slots) add(m mask, k tally.CellKey, a agg) {
	if !s.ready {
		s.pending = append(s.pending, change{k, a})
		return
	}
	s.apply(m, k, a)
}

func (s *slots) apply(m mask, k tally.CellKey, a agg) {
	dn := int32(k.Bucket / tally.SecondsPerDay)
	kk := m.project(toKey(&k))
	kk.quarter = uint8(k.Bucket % tally.SecondsPerDay / SlotWidth)
	d := s.days[dn]
	if d == nil {
		d = &day{extra: make(map[key]agg)}
		s.days[dn] = d
	}
	before := len(d.base) + len(d.extra)
	d.add(kk, a)
	s.cells += max(0, len(d.base)+len(d.extra)-before)
}

// SlotNeed names the sub-day rollup a query needs: the projection of the
// dimensions it groups or filters by. Reports of many queries share one.
type SlotNeed struct{ m mask }

// SlotNeed returns the sub-day rollup q needs, and whether it is worth
// waiting for: true when q is not in whole UTC days and its rollup is not
// built yet but may be (rollups are on, and it was not refused as too
// large). A query whose rollup is built but that the cube still cannot
// answer (bounds that are not whole slots, see slotAligned) gets false.
func (c *Cube) SlotNeed(q *tally.ReportQuery) (SlotNeed, bool) {
	if q.InUTCDays() || c.slotBudget <= 0 {
		return SlotNeed{}, false
	}
	_, need := masks(q)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s := c.slots[need]; (s != nil && s.ready) || c.refused[need] {
		return SlotNeed{}, false
	}
	return SlotNeed{need}, true
}

// SlotBuild fills sub-day rollups from one snapshot of the raw events: one
// scan serves every projection asked for meanwhile. See BeginSlots.
type SlotBuild struct {
	c     *Cube
	parts []slotPart
}

type slotPart struct {
	m mask
	s *slots
}

// BeginSlots starts building the sub-day rollups of needs that are not
// built or being built yet and fit the budget together with those that
// are (a need that does not fit is refused for good: its queries read raw
// events). It returns false when there is none to build. The caller must
// call it while the cube holds exactly the committed state of the snapshot
// it will read (between two commits), then Add every event of that
// snapshot and call Finish (or Abort). Changes added to the cube in the
// meantime are queued and applied by Finish, so the rollups miss none and
// count none twice.
func (c *Cube) BeginSlots(needs ...SlotNeed) (*SlotBuild, bool) {
	if c.slotBudget <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	used := 0
	for _, s := range c.slots {
		used += s.cells
	}
	b := &SlotBuild{c: c}
	for _, n := range needs {
		if c.slots[n.m] != nil || c.refused[n.m] {
			continue
		}
		est := c.estimate(n.m)
		if used+est > c.slotBudget {
			c.refused[n.m] = true
			continue
		}
		used += est
		s := &slots{days: make(map[int32]*day)}
		c.slots[n.m] = s
		b.parts = append(b.parts, slotPart{n.m, s})
	}
	return b, len(b.parts) > 0
}

// estimate bounds the cells of m's sub-day rollup: per day, every slot of
// every cell of the day's projection, or the day's events if fewer.
func (c *Cube) estimate(m mask) int {
	n := 0
	for _, dn := range c.order {
		d := c.days[dn]
		d.mu.Lock()
		cells := d.live
		if m != fullMask {
			cells = len(d.projection(m))
		}
		d.mu.Unlock()
		n += int(min(int64(cells)*slotsPerDay, d.total.count))
	}
	return n
}

// Add adds one event of the snapshot: k.Bucket is its time in Unix seconds.
// It must not be called concurrently with itself.
func (b *SlotBuild) Add(k tally.CellKey, count int64, sum tally.Decimal) {
	for _, p := range b.parts {
		p.s.apply(p.m, k, agg{count, sum})
	}
}

// Finish applies the changes queued since the snapshot and makes the
// rollups serve reports.
func (b *SlotBuild) Finish() {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	for _, p := range b.parts {
		for _, ch := range p.s.pending {
			p.s.apply(p.m, ch.k, ch.a)
		}
		p.s.pending = nil
		p.s.ready = true
	}
}

// Abort drops a build that could not read its snapshot; a later BeginSlots
// may try again.
func (b *SlotBuild) Abort() {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	for _, p := range b.parts {
		if b.c.slots[p.m] == p.s {
			delete(b.c.slots, p.m)
		}
	}
}

// slotReport answers q, which is not in whole UTC days, from the sub-day
// rollup of the dimensions it needs, if that is built and q's buckets and
// bounds are whole slots. Callers hold the cube's read lock.
func (c *Cube) slotReport(q *tally.ReportQuery) (tally.Report, bool) {
	_, need := masks(q)
	s := c.slots[need]
	if s == nil || !s.ready || !c.slotAligned(q) {
		return tally.Report{}, false
	}
	f := &q.Filter
	a := tally.NewAggregator(q)
	if !q.Groups(tally.ColDate) {
		// The whole UTC days inside the bounds come from the day cells;
		// only the partial days at the edges need slots.
		first, end := c.dayBounds(f)
		if first > end { // both bounds within one UTC day
			feedSlots(s, end, a)
			return a.Report(), true
		}
		inner := &tally.Filter{}
		if !f.From.IsZero() {
			inner.From = time.Unix(int64(first)*tally.SecondsPerDay, 0)
			if f.From.Unix()%tally.SecondsPerDay != 0 {
				feedSlots(s, first-1, a)
			}
		}
		if !f.To.IsZero() {
			inner.To = time.Unix(int64(end)*tally.SecondsPerDay, 0)
			if f.To.Unix()%tally.SecondsPerDay != 0 {
				feedSlots(s, end, a)
			}
		}
		c.feed(c.daysIn(inner), need, a)
		return a.Report(), true
	}
	for _, dn := range c.daysIn(widen(f)) {
		feedSlots(s, dn, a)
	}
	return a.Report(), true
}

// dayBounds returns the first and the end (exclusive) of the whole UTC days
// within f's bounds.
func (c *Cube) dayBounds(f *tally.Filter) (first, end int32) {
	first, end = -1<<31, 1<<31-1
	if !f.From.IsZero() {
		from := f.From.Unix()
		first = int32((from + tally.SecondsPerDay - 1) / tally.SecondsPerDay)
	}
	if !f.To.IsZero() {
		end = int32(f.To.Unix() / tally.SecondsPerDay)
	}
	return first, end
}

// widen returns f's bounds moved out to whole UTC days, which hold every
// slot within f.
func widen(f *tally.Filter) *tally.Filter {
	w := *f
	if !w.From.IsZero() {
		from := w.From.Unix()
		w.From = time.Unix(from-from%tally.SecondsPerDay, 0)
	}
	if !w.To.IsZero() {
		to := w.To.Unix() + tally.SecondsPerDay - 1
		w.To = time.Unix(to-to%tally.SecondsPerDay, 0)
	}
	return &w
}

// feedSlots adds a day's slot cells to a, each at its slot's first instant;
// the Aggregator applies the filter and the bounds, which are whole slots.
func feedSlots(s *slots, dn int32, a *tally.Aggregator) {
	d := s.days[dn]
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.each(func(k key, v agg) {
		ck := k.cellKey(dn)
		ck.Bucket += int64(k.quarter) * SlotWidth
		a.Add(ck, v.count, v.sum)
	})
}

// slotAligned reports whether every bucket and bound of q is a whole number
// of slots: its bounds are, and its zone's offset is a multiple of
// SlotWidth on every day of its range before 1980.
func (c *Cube) slotAligned(q *tally.ReportQuery) bool {
	f := &q.Filter
	for _, t := range []time.Time{f.From, f.To} {
		if !t.IsZero() && t.Unix()%SlotWidth != 0 {
			return false
		}
	}
	if len(c.order) == 0 {
		return true
	}
	start := int64(c.order[0]) * tally.SecondsPerDay
	if !f.From.IsZero() {
		start = max(start, f.From.Unix())
	}
	end := alignedSince
	if !f.To.IsZero() {
		end = min(end, f.To.Unix())
	}
	loc := q.Location
	for t := start - start%tally.SecondsPerDay; t < end; t += tally.SecondsPerDay {
		if _, off := time.Unix(t, 0).In(loc).Zone(); off%SlotWidth != 0 {
			return false
		}
	}
	return true
}
