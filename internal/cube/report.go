package cube

import (
	"math"
	"slices"

	"github.com/tallyhq/tally"
)

// Report answers q from the cube. It returns false when the cube cannot:
// when q's buckets or bounds are not whole UTC days and no sub-day rollup
// of the dimensions it needs is built (see BeginSlots).
func (c *Cube) Report(q *tally.ReportQuery) (tally.Report, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !q.InUTCDays() {
		return c.slotReport(q)
	}
	days := c.daysIn(&q.Filter)
	grouped, need := masks(q)
	if grouped == fullMask && q.Groups(tally.ColDate) && q.Granularity == tally.Day {
		// One row per cell.
		if q.Limit > 0 && unfiltered(&q.Filter) && naturalOrder(q) {
			return c.firstCells(days, q), true
		}
		a := tally.NewDistinctAggregator(q)
		c.feed(days, fullMask, a)
		return a.Report(), true
	}
	a := tally.NewAggregator(q)
	c.feed(days, need, a)
	return a.Report(), true
}

// daysIn returns the days within the filter's bounds, in order.
func (c *Cube) daysIn(f *tally.Filter) []int32 {
	lo, hi := int32(math.MinInt32), int32(math.MaxInt32)
	if !f.From.IsZero() {
		lo = int32(f.From.Unix() / tally.SecondsPerDay)
	}
	if !f.To.IsZero() {
		hi = int32(f.To.Unix() / tally.SecondsPerDay)
	}
	i, _ := slices.BinarySearch(c.order, lo)
	j, _ := slices.BinarySearch(c.order, hi)
	return c.order[i:j]
}

// masks returns the dimensions q groups by, and those it groups or filters
// by.
func masks(q *tally.ReportQuery) (grouped, needed mask) {
	for _, g := range q.GroupBy {
		if g != tally.ColDate {
			grouped |= bitOf(g)
		}
	}
	m := grouped
	f := &q.Filter
	if f.DeviceTypes != nil {
		m |= bitOf(tally.ColDeviceType)
	}
	if f.Categories != nil {
		m |= bitOf(tally.ColCategory)
	}
	if f.Clients != nil {
		m |= bitOf(tally.ColClient)
	}
	if f.ClientGroups != nil {
		m |= bitOf(tally.ColClientGroup)
	}
	if f.Valid != nil {
		m |= bitOf(tally.ColValid)
	}
	return grouped, m
}

func unfiltered(f *tally.Filter) bool {
	return f.DeviceTypes == nil && f.Categories == nil && f.Clients == nil &&
		f.ClientGroups == nil && f.Valid == nil
}

// naturalOrder reports whether q sorts rows by date and then the other
// dimensions ascending, which is the order days and their sorted cells are
// stored in.
func naturalOrder(q *tally.ReportQuery) bool {
	var seq []tally.Column
	for _, o := range q.OrderBy {
		if o.Desc {
			return false
		}
		seq = append(seq, o.Column)
	}
	for _, g := range q.GroupBy {
		if !slices.Contains(seq, g) {
			seq = append(seq, g)
		}
	}
	return slices.Equal(seq, tally.Dimensions)
}

// feed adds the cells of m's projection of every day to a.
func (c *Cube) feed(days []int32, m mask, a *tally.Aggregator) {
	for _, dn := range days {
		d := c.days[dn]
		d.mu.Lock()
		if m == fullMask {
			d.each(func(k key, v agg) { a.Add(k.cellKey(dn), v.count, v.sum) })
		} else {
			for k, v := range d.projection(m) {
				a.Add(k.cellKey(dn), v.count, v.sum)
			}
		}
		d.mu.Unlock()
	}
}

// firstCells answers an unfiltered one-row-per-cell query in the stored
// order: the total comes from per-day counters and only the cells up to the
// end of the page are read.
func (c *Cube) firstCells(days []int32, q *tally.ReportQuery) tally.Report {
	var r tally.Report
	skip, want := q.Offset, q.Limit
	for _, dn := range days {
		d := c.days[dn]
		r.TotalCount += d.live
		r.Totals.Count += d.total.count
		r.Totals.Sum = r.Totals.Sum.Add(d.total.sum)
		if want == 0 {
			continue
		}
		if skip >= d.live {
			skip -= d.live
			continue
		}
		d.mu.Lock()
		d.merge()
		for _, cl := range d.base[skip:] {
			if want == 0 {
				break
			}
			r.Rows = append(r.Rows, tally.Row{Key: cl.key.cellKey(dn), Count: cl.count, Sum: cl.sum})
			want--
		}
		skip = 0
		d.mu.Unlock()
	}
	return r
}
