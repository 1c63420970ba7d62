package tally

import (
	"strconv"
	"strings"
	"time"
)

// DateRange is a date range relative to the day a report is asked for, in
// the report's zone.
type DateRange struct {
	Kind DateRangeKind
	Days int // for LastDays: the N of "Nd"
}

// DateRangeKind is the kind of a DateRange.
type DateRangeKind uint8

const (
	NoDateRange DateRangeKind = iota // the zero value: not given
	Today
	Yesterday
	LastDays  // the N whole days ending yesterday
	ThisMonth // the first of this month to the end of today
	LastMonth
	ThisYear // 1 January to the end of today
	AllTime  // no bounds
)

// DateRangeNames lists the accepted date_range values.
var DateRangeNames = []string{"today", "yesterday", "7d", "30d", "90d", "month", "last_month", "year", "all"}

// ParseDateRange parses a date_range value.
func ParseDateRange(s string) (DateRange, bool) {
	switch s {
	case "today":
		return DateRange{Kind: Today}, true
	case "yesterday":
		return DateRange{Kind: Yesterday}, true
	case "7d", "30d", "90d":
		n, _ := strconv.Atoi(strings.TrimSuffix(s, "d"))
		return DateRange{Kind: LastDays, Days: n}, true
	case "month":
		return DateRange{Kind: ThisMonth}, true
	case "last_month":
		return DateRange{Kind: LastMonth}, true
	case "year":
		return DateRange{Kind: ThisYear}, true
	case "all":
		return DateRange{Kind: AllTime}, true
	}
	return DateRange{}, false
}

// String returns the date_range value r was parsed from.
func (r DateRange) String() string {
	switch r.Kind {
	case Today:
		return "today"
	case Yesterday:
		return "yesterday"
	case LastDays:
		return strconv.Itoa(r.Days) + "d"
	case ThisMonth:
		return "month"
	case LastMonth:
		return "last_month"
	case ThisYear:
		return "year"
	case AllTime:
		return "all"
	}
	return ""
}

// Resolve returns the bounds [from, to) of r on the day now falls on in
// loc, as local midnights; zero times for AllTime.
func (r DateRange) Resolve(now time.Time, loc *time.Location) (from, to time.Time) {
	y, m, d := now.In(loc).Date()
	switch r.Kind {
	case Today:
		return midnight(y, m, d, loc), midnight(y, m, d+1, loc)
	case Yesterday:
		return midnight(y, m, d-1, loc), midnight(y, m, d, loc)
	case LastDays:
		return midnight(y, m, d-r.Days, loc), midnight(y, m, d, loc)
	case ThisMonth:
		return midnight(y, m, 1, loc), midnight(y, m, d+1, loc)
	case LastMonth:
		return midnight(y, m-1, 1, loc), midnight(y, m, 1, loc)
	case ThisYear:
		return midnight(y, 1, 1, loc), midnight(y, m, d+1, loc)
	}
	return time.Time{}, time.Time{}
}

func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	return DateStart(y, m, d, loc)
}

// DateStart returns the first instant of a local date in loc, the instant a
// start_date or end_date of that date stands for. It is local midnight,
// except where the clocks skip midnight (America/Santiago in September):
// then it is the change of offset, where time.Date would answer an instant
// of the day before. Out-of-range days and months are normalized as by
// time.Date.
func DateStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	date := func(s int64) int64 {
		y, m, d := time.Unix(s, 0).In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	}
	s := t.Unix()
	if date(s) == want && date(s-1) < want {
		return t
	}
	// The first second of the date is within hours of t: find it.
	lo, hi := s-6*3600, s+6*3600 // date(lo) < want <= date(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if date(mid) < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	return time.Unix(hi, 0).In(loc)
}

// Comparison is the earlier range a report is compared with.
type Comparison uint8

const (
	NoComparison   Comparison = iota
	PreviousPeriod            // the same number of days, ending where the range starts
	PreviousYear              // the same dates one year earlier; 29 February → 28 February
)

var comparisonNames = [...]string{NoComparison: "", PreviousPeriod: "previous_period", PreviousYear: "previous_year"}

// ParseComparison parses a compare value.
func ParseComparison(s string) (Comparison, bool) {
	for i, n := range comparisonNames {
		if i > 0 && n == s {
			return Comparison(i), true
		}
	}
	return 0, false
}

// String returns the compare value of c, "" for NoComparison.
func (c Comparison) String() string {
	if int(c) < len(comparisonNames) {
		return comparisonNames[c]
	}
	return "invalid"
}

// Range returns the earlier range for the range [from, to), whose bounds are
// local midnights in loc.
func (c Comparison) Range(from, to time.Time, loc *time.Location) (time.Time, time.Time) {
	fy, fm, fd := from.In(loc).Date()
	ty, tm, td := to.In(loc).Date()
	if c == PreviousYear {
		return yearBefore(fy, fm, fd, loc), yearBefore(ty, tm, td, loc)
	}
	// Count days on the calendar, not hours, so a range across a DST
	// change compares with whole days too.
	days := int(time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).Sub(time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	return midnight(fy, fm, fd-days, loc), midnight(fy, fm, fd, loc)
}

func yearBefore(y int, m time.Month, d int, loc *time.Location) time.Time {
	if m == time.February && d == 29 {
		d = 28
	}
	return midnight(y-1, m, d, loc)
}

// FormatDate writes a local-midnight bound as the YYYY-MM-DD it stands for.
func FormatDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.DateOnly)
}
