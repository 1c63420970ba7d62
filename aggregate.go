package tally

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Aggregator folds rollup cells into a Report. It is the single
// implementation of filtering, grouping, date bucketing, ordering, paging and
// totals, so every store answers alike: a store feeds it every cell (or raw
// event, as a cell of count 1) that may match, and it drops the rest itself.
//
// The cells fed must be no wider than the query's buckets and bounds: cells
// of one UTC day serve a query only when q.InUTCDays() is true.
type Aggregator struct {
	q      *ReportQuery
	m      matcher
	groups map[CellKey]int // index into rows; nil in distinct mode
	rows   []Row
	totals Totals

	// In distinct mode rows holds at most keep rows, as a max-heap under
	// q.Compare, and matched counts every row seen.
	distinct bool
	keep     int
	matched  int

	grouped [ColValid + 1]bool
	// The last cell bucket mapped and its report bucket: cells arrive
	// clustered by time, and mapping a bucket costs a time zone lookup.
	lastIn, lastOut int64
	haveLast        bool
}

// NewAggregator returns an Aggregator for q, which must be normalized.
func NewAggregator(q *ReportQuery) *Aggregator {
	a := &Aggregator{q: q, m: newMatcher(&q.Filter), groups: make(map[CellKey]int)}
	for _, c := range q.GroupBy {
		a.grouped[c] = true
	}
	return a
}

// NewDistinctAggregator returns an Aggregator for a store that promises
// that no two cells it adds fall in the same row: q groups by every
// dimension, and by date at the cells' own grain. It then keeps only the
// rows that can reach the requested page, so memory stays bounded by
// offset+limit however many rows match.
func NewDistinctAggregator(q *ReportQuery) *Aggregator {
	a := NewAggregator(q)
	a.groups = nil
	if q.Limit > 0 {
		a.distinct = true
		a.keep = q.Offset + q.Limit
	}
	return a
}

// Add folds count events with the given sum of values, all sharing key k.
func (a *Aggregator) Add(k CellKey, count int64, sum Decimal) {
	if count == 0 || !a.m.match(&k) {
		return
	}
	a.totals.Count += count
	a.totals.Sum = a.totals.Sum.Add(sum)
	if a.grouped[ColDate] {
		k.Bucket = a.bucket(k.Bucket)
	} else {
		k.Bucket = 0
	}
	if !a.grouped[ColDeviceType] {
		k.DeviceType = 0
	}
	if !a.grouped[ColCategory] {
		k.Category = 0
	}
	if !a.grouped[ColClient] {
		k.Client = 0
	}
	if !a.grouped[ColClientGroup] {
		k.ClientGroup = 0
	}
	if !a.grouped[ColValid] {
		k.Valid = false
	}
	row := Row{Key: k, Count: count, Sum: sum}
	switch {
	case a.distinct:
		a.matched++
		a.pushBounded(row)
		return
	case a.groups == nil: // distinct cells, every row wanted
		a.rows = append(a.rows, row)
		return
	}
	if i, ok := a.groups[k]; ok {
		a.rows[i].Count += count
		a.rows[i].Sum = a.rows[i].Sum.Add(sum)
		return
	}
	a.groups[k] = len(a.rows)
	a.rows = append(a.rows, row)
}

// pushBounded keeps the a.keep smallest rows under q.Compare in a max-heap,
// so that the largest kept row is at the root and is the one to evict.
func (a *Aggregator) pushBounded(r Row) {
	h := a.rows
	if len(h) < a.keep {
		h = append(h, r)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if a.q.Compare(&h[p], &h[i]) >= 0 {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		a.rows = h
		return
	}
	if a.q.Compare(&r, &h[0]) >= 0 {
		return
	}
	h[0] = r
	for i := 0; ; {
		big, l, rt := i, 2*i+1, 2*i+2
		if l < len(h) && a.q.Compare(&h[l], &h[big]) > 0 {
			big = l
		}
		if rt < len(h) && a.q.Compare(&h[rt], &h[big]) > 0 {
			big = rt
		}
		if big == i {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

func (a *Aggregator) bucket(sec int64) int64 {
	if a.haveLast && sec == a.lastIn {
		return a.lastOut
	}
	out := ReportBucket(sec, a.q.Granularity, a.q.Location)
	a.lastIn, a.lastOut, a.haveLast = sec, out, true
	return out
}

// ReportBucket maps an instant (Unix seconds) to the key of its report bucket
// in loc. An hour bucket is the run of instants that share the local date,
// local hour and UTC offset, and its key is the run's first instant: the
// start of the local hour, or the change of offset within it (a 30-minute
// DST shift makes a bucket that starts at :30). A day, week or month
// bucket's key is its first local date, written as the Unix seconds of that
// date's midnight in UTC, so keys of every granularity sort chronologically
// and print without a zone lookup.
func ReportBucket(sec int64, g Granularity, loc *time.Location) int64 {
	t := time.Unix(sec, 0).In(loc)
	if g == Hour {
		offsetAt := func(s int64) int {
			_, off := time.Unix(s, 0).In(loc).Zone()
			return off
		}
		// Counting back on the wall clock to the whole hour stays exact
		// across DST changes, where rebuilding the time from its fields
		// would be ambiguous.
		off := offsetAt(sec)
		wall := sec + int64(off)
		start := sec - ((wall%3600)+3600)%3600
		if offsetAt(start) == off {
			return start
		}
		// The offset changed since the local hour began. The tz database
		// never changes it twice within an hour (the test over every zone
		// checks so), so the bucket starts at the one instant of
		// (start, sec] from which the offset is off.
		before, from := start, sec // offsets: not off, off
		for from-before > 1 {
			mid := before + (from-before)/2
			if offsetAt(mid) == off {
				from = mid
			} else {
				before = mid
			}
		}
		return from
	}
	y, m, d := t.Date()
	switch g {
	case Week:
		d -= (int(t.Weekday()) + 6) % 7 // back to Monday
	case Month:
		d = 1
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
}

// Report sorts the groups, cuts out the requested page and returns it.
func (a *Aggregator) Report() Report {
	r := Report{TotalCount: len(a.rows), Totals: a.totals}
	if a.distinct {
		r.TotalCount = a.matched
	}
	r.Rows = page(a.q, a.rows)
	return r
}

// Compare orders rows by the query's order_by terms, then by the remaining
// grouped dimensions ascending in group_by order, which makes the order total
// so that pages never overlap.
func (q *ReportQuery) Compare(x, y *Row) int {
	for _, o := range q.OrderBy {
		if c := compareColumn(o.Column, x, y); c != 0 {
			if o.Desc {
				return -c
			}
			return c
		}
	}
	for _, g := range q.GroupBy {
		if q.orders(g) {
			continue
		}
		if c := compareColumn(g, x, y); c != 0 {
			return c
		}
	}
	return 0
}

func (q *ReportQuery) orders(c Column) bool {
	for _, o := range q.OrderBy {
		if o.Column == c {
			return true
		}
	}
	return false
}

func compareColumn(c Column, x, y *Row) int {
	switch c {
	case ColDate:
		return cmp.Compare(x.Key.Bucket, y.Key.Bucket)
	case ColDeviceType:
		return cmp.Compare(x.Key.DeviceType, y.Key.DeviceType)
	case ColCategory:
		return cmp.Compare(x.Key.Category, y.Key.Category)
	case ColClient:
		return cmp.Compare(x.Key.Client, y.Key.Client)
	case ColClientGroup:
		return cmp.Compare(x.Key.ClientGroup, y.Key.ClientGroup)
	case ColValid:
		return compareBool(x.Key.Valid, y.Key.Valid)
	case ColCount:
		return cmp.Compare(x.Count, y.Count)
	case ColSum:
		return x.Sum.Cmp(y.Sum)
	case ColMean:
		// A filled row has no mean: null, which sorts first.
		if x.Count == 0 || y.Count == 0 {
			return compareBool(x.Count != 0, y.Count != 0)
		}
		return cmp.Compare(x.Mean(), y.Mean())
	}
	return 0
}

func compareBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

// Matcher returns f compiled for many checks: whether an event with key k,
// keyed at its own second, is one f selects. (Stores that delete by filter
// check each event exactly as reports count it.)
func (f *Filter) Matcher() func(k *CellKey) bool {
	m := newMatcher(f)
	return m.match
}

// matcher is a Filter compiled for fast checks of many cells.
type matcher struct {
	clients, groups set[int32]
	categories      set[Category]
	devices         [DeviceTablet + 1]bool
	allDevices      bool
	valid           *bool
	from, to        int64 // [from, to) in Unix seconds
}

func newMatcher(f *Filter) matcher {
	m := matcher{
		clients:    newSet(f.Clients),
		groups:     newSet(f.ClientGroups),
		categories: newSet(f.Categories),
		allDevices: f.DeviceTypes == nil,
		valid:      f.Valid,
		from:       math.MinInt64,
		to:         math.MaxInt64,
	}
	for _, d := range f.DeviceTypes {
		if d <= DeviceTablet {
			m.devices[d] = true
		}
	}
	if !f.From.IsZero() {
		m.from = f.From.Unix()
	}
	if !f.To.IsZero() {
		m.to = f.To.Unix()
	}
	return m
}

func (m *matcher) match(k *CellKey) bool {
	return k.Bucket >= m.from && k.Bucket < m.to &&
		(m.allDevices || m.devices[k.DeviceType]) &&
		(m.valid == nil || *m.valid == k.Valid) &&
		m.clients.has(k.Client) && m.groups.has(k.ClientGroup) &&
		m.categories.has(k.Category)
}

// set is a filter list: nil keeps everything; short lists are searched
// linearly, which beats hashing for the handful of values reports usually
// name.
type set[T comparable] struct {
	all   bool
	small []T
	big   map[T]struct{}
}

func newSet[T comparable](vs []T) set[T] {
	switch {
	case vs == nil:
		return set[T]{all: true}
	case len(vs) <= 8:
		return set[T]{small: vs}
	}
	m := make(map[T]struct{}, len(vs))
	for _, v := range vs {
		m[v] = struct{}{}
	}
	return set[T]{big: m}
}

func (s *set[T]) has(v T) bool {
	switch {
	case s.all:
		return true
	case s.big != nil:
		_, ok := s.big[v]
		return ok
	}
	return slices.Contains(s.small, v)
}
