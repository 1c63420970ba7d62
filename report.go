package tally

import (
	"time"
)

// Column is a report column: one of the six dimensions a report can group
// and filter by, or one of the three metrics it can order by.
type Column uint8

const (
	ColDate Column = iota + 1
	ColDeviceType
	ColCategory
	ColClient
	ColClientGroup
	ColValid
	ColCount
	ColSum
	ColMean
)

// Dimensions lists the six dimensions in their canonical order, which is
// also the default group_by.
var Dimensions = []Column{ColDate, ColDeviceType, ColCategory, ColClient, ColClientGroup, ColValid}

var columnNames = [...]string{
	ColDate: "date", ColDeviceType: "device_type", ColCategory: "category",
	ColClient: "client", ColClientGroup: "client_group", ColValid: "valid",
	ColCount: "count", ColSum: "sum", ColMean: "mean",
}

// String returns the column's name in query parameters.
func (c Column) String() string {
	if c > 0 && int(c) < len(columnNames) {
		return columnNames[c]
	}
	return "invalid"
}

// ParseColumn parses a column name as used in group_by and order_by.
func ParseColumn(s string) (Column, bool) {
	for i, n := range columnNames {
		if i > 0 && n == s {
			return Column(i), true
		}
	}
	return 0, false
}

// IsDimension reports whether c can be grouped and filtered by.
func (c Column) IsDimension() bool { return c >= ColDate && c <= ColValid }

// Granularity is the width of a bucket of the date dimension.
type Granularity uint8

const (
	Day Granularity = iota // the default, so the zero value is the contract's behaviour
	Hour
	Week
	Month
)

var granularityNames = [...]string{Day: "day", Hour: "hour", Week: "week", Month: "month"}

// String returns the granularity's name, which is also its row key.
func (g Granularity) String() string {
	if int(g) < len(granularityNames) {
		return granularityNames[g]
	}
	return "invalid"
}

// ParseGranularity parses a granularity name.
func ParseGranularity(s string) (Granularity, bool) {
	for i, n := range granularityNames {
		if n == s {
			return Granularity(i), true
		}
	}
	return 0, false
}

// Order is one term of a report's sort order.
type Order struct {
	Column Column
	Desc   bool
}

// Filter selects the events a report counts. A nil list does not filter; a
// non-nil list keeps events whose value is in it. NoCategory and DeviceNone
// in a list keep the events without a category or device type.
type Filter struct {
	Clients      []int32
	ClientGroups []int32
	DeviceTypes  []DeviceType
	Categories   []Category
	Valid        *bool
	// From and To bound the event time to [From, To); a zero value leaves that
	// side open.
	From, To time.Time
}

// ReportQuery is an aggregated question over the stored events.
type ReportQuery struct {
	GroupBy     []Column // dimensions; empty means all six
	OrderBy     []Order  // each column grouped or a metric
	Filter      Filter
	Offset      int
	Limit       int // 0 means every row
	Granularity Granularity
	Location    *time.Location // nil means UTC
}

// Normalize fills in defaults and checks the rules that involve several
// parameters. Errors name the parameter at fault.
func (q *ReportQuery) Normalize() error {
	if len(q.GroupBy) == 0 {
		q.GroupBy = append([]Column(nil), Dimensions...)
	}
	var seen [ColMean + 1]bool
	for _, c := range q.GroupBy {
		if !c.IsDimension() {
			return FieldErrorf("group_by", "%q is not a dimension", c)
		}
		if seen[c] {
			return FieldErrorf("group_by", "%q is listed more than once", c)
		}
		seen[c] = true
	}
	var ordered [ColMean + 1]bool
	for _, o := range q.OrderBy {
		if o.Column == 0 || o.Column > ColMean {
			return FieldErrorf("order_by", "unknown column")
		}
		if o.Column.IsDimension() && !seen[o.Column] {
			return FieldErrorf("order_by", "%q is not in group_by", o.Column)
		}
		if ordered[o.Column] {
			return FieldErrorf("order_by", "%q is listed more than once", o.Column)
		}
		ordered[o.Column] = true
	}
	switch {
	case q.Offset < 0:
		return FieldErrorf("offset", "must be at least 0")
	case q.Limit < 0:
		return FieldErrorf("limit", "must be at least 1")
	case q.Granularity > Month:
		return FieldErrorf("granularity", "must be one of hour, day, week, month")
	}
	f := &q.Filter
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return FieldErrorf("start_date", "is after end_date")
	}
	for _, d := range f.DeviceTypes {
		if d > DeviceTablet {
			return FieldErrorf("device_types", "unknown device type")
		}
	}
	for _, c := range f.Categories {
		if !c.Valid() {
			return FieldErrorf("categories", "must be 32-bit integers or null")
		}
	}
	if q.Location == nil {
		q.Location = time.UTC
	}
	return nil
}

// Groups reports whether the query groups by dimension c.
func (q *ReportQuery) Groups(c Column) bool {
	for _, g := range q.GroupBy {
		if g == c {
			return true
		}
	}
	return false
}

// InUTCDays reports whether every bucket and bound of the query is a whole
// number of UTC days, so that rollup cells of one UTC day can answer it.
func (q *ReportQuery) InUTCDays() bool {
	if q.Location != nil && q.Location != time.UTC {
		return false
	}
	if q.Groups(ColDate) && q.Granularity == Hour {
		return false
	}
	for _, t := range []time.Time{q.Filter.From, q.Filter.To} {
		if !t.IsZero() && t.UnixNano()%int64(24*time.Hour) != 0 {
			return false
		}
	}
	return true
}

// Row is one row of a report: the grouped dimensions' values in Key (the
// others are zero) and the aggregates of the events that share them. For the
// date dimension Key.Bucket is the report bucket's key (see ReportBucket).
type Row struct {
	Key   CellKey
	Count int64
	Sum   Decimal
}

// Mean is Sum / Count, rounded once to the nearest float64. Count must not
// be 0: a row that gap filling added has no mean.
func (r Row) Mean() float64 { return r.Sum.Quo(r.Count) }

// Totals aggregates every event a report matched, across all pages.
type Totals struct {
	Count int64
	Sum   Decimal
}

// Mean is Sum / Count, rounded once to the nearest float64; ok is false
// when Count is 0.
func (t Totals) Mean() (mean float64, ok bool) {
	if t.Count == 0 {
		return 0, false
	}
	return t.Sum.Quo(t.Count), true
}

// Report is the answer to a ReportQuery.
type Report struct {
	TotalCount int // rows in the whole result, not events
	Rows       []Row
	Totals     Totals
}

// CellKey identifies a rollup cell: a time bucket and a value of each of the
// other five dimensions. Bucket is the bucket's start in Unix seconds; cells
// read from raw events use the event's own second.
type CellKey struct {
	Bucket      int64
	DeviceType  DeviceType
	Category    Category
	Client      int32
	ClientGroup int32
	Valid       bool
}

// KeyOf returns the key of the cell e falls in, for cells of the given width
// in seconds (a divisor of a day, counted from the Unix epoch in UTC).
func KeyOf(e *Event, width int64) CellKey {
	return CellKey{Bucket: FloorTo(e.Timestamp.Unix(), width), DeviceType: e.DeviceType, Category: e.Category,
		Client: e.Client, ClientGroup: e.ClientGroup, Valid: e.Valid}
}

// FloorTo rounds the Unix second sec down to a multiple of width, also
// before 1970: the start of the cell of that width holding sec.
func FloorTo(sec, width int64) int64 { return sec - ((sec%width)+width)%width }

// SecondsPerDay is the width of the rollup cells that serve reports in UTC
// days.
const SecondsPerDay = 24 * 60 * 60
