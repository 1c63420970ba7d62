package tally_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/tzdb"
)

// Each clock is at a local midnight, the instant the day changes: the
// range must be that of the new day, and one second earlier that of the
// day before.
func TestDateRangeResolve(t *testing.T) {
	type want struct{ from, to string }
	tests := []struct {
		zone   string
		now    string // a local date: the clock is at its midnight
		ranges map[string]want
	}{
		{"UTC", "2024-03-01", map[string]want{
			"today":      {"2024-03-01", "2024-03-02"},
			"yesterday":  {"2024-02-29", "2024-03-01"},
			"7d":         {"2024-02-23", "2024-03-01"},
			"30d":        {"2024-01-31", "2024-03-01"},
			"90d":        {"2023-12-02", "2024-03-01"},
			"month":      {"2024-03-01", "2024-03-02"},
			"last_month": {"2024-02-01", "2024-03-01"},
			"year":       {"2024-01-01", "2024-03-02"},
		}},
		// The day the clocks go forward at 02:00: a 23-hour day.
		{"Europe/Berlin", "2024-03-31", map[string]want{
			"today":      {"2024-03-31", "2024-04-01"},
			"yesterday":  {"2024-03-30", "2024-03-31"},
			"7d":         {"2024-03-24", "2024-03-31"},
			"month":      {"2024-03-01", "2024-04-01"},
			"last_month": {"2024-02-01", "2024-03-01"},
			"year":       {"2024-01-01", "2024-04-01"},
		}},
		// Lord Howe goes back 30 minutes at 02:00 on the first Sunday of April.
		{"Australia/Lord_Howe", "2024-04-07", map[string]want{
			"today":      {"2024-04-07", "2024-04-08"},
			"7d":         {"2024-03-31", "2024-04-07"},
			"last_month": {"2024-03-01", "2024-04-01"},
		}},
		// Santiago changes at midnight: 2024-09-08 has no 00:00.
		{"America/Santiago", "2024-09-08", map[string]want{
			"today":     {"2024-09-08", "2024-09-09"},
			"yesterday": {"2024-09-07", "2024-09-08"},
		}},
		{"Asia/Kolkata", "2025-01-01", map[string]want{
			"today":      {"2025-01-01", "2025-01-02"},
			"30d":        {"2024-12-02", "2025-01-01"},
			"month":      {"2025-01-01", "2025-01-02"},
			"last_month": {"2024-12-01", "2025-01-01"},
			"year":       {"2025-01-01", "2025-01-02"},
		}},
	}
	for _, tt := range tests {
		loc := mustLoad(t, tt.zone)
		d, _ := time.Parse(time.DateOnly, tt.now)
		now := tally.DateStart(d.Year(), d.Month(), d.Day(), loc)
		if got := now.In(loc).Format(time.DateOnly); got != tt.now {
			t.Fatalf("%s: the clock is on %s, not %s", tt.zone, got, tt.now)
		}
		for name, w := range tt.ranges {
			r, ok := tally.ParseDateRange(name)
			if !ok || r.String() != name {
				t.Fatalf("ParseDateRange(%q) = %v, %v", name, r, ok)
			}
			from, to := r.Resolve(now, loc)
			got := want{tally.FormatDate(from, loc), tally.FormatDate(to, loc)}
			if got != w {
				t.Errorf("%s at %s in %s: [%s, %s), want [%s, %s)", name, now, tt.zone, got.from, got.to, w.from, w.to)
			}
			// Bounds are the first instants of their dates: the same
			// instants start_date and end_date stand for.
			for _, b := range []time.Time{from, to} {
				if b.Add(-time.Second).In(loc).Format(time.DateOnly) == b.In(loc).Format(time.DateOnly) {
					t.Errorf("%s in %s: bound %s is not the first instant of its date", name, tt.zone, b)
				}
			}
		}
		// One second earlier, today is the day before.
		from, to := tally.DateRange{Kind: tally.Today}.Resolve(now.Add(-time.Second), loc)
		if tally.FormatDate(to, loc) != tt.now || !to.Equal(now) || !from.Before(to) {
			t.Errorf("%s: today one second before %s is [%s, %s)", tt.zone, now, from, to)
		}
	}
	if from, to := (tally.DateRange{Kind: tally.AllTime}).Resolve(time.Now(), time.UTC); !from.IsZero() || !to.IsZero() {
		t.Errorf("all: [%s, %s), want no bounds", from, to)
	}
	if _, ok := tally.ParseDateRange("8d"); ok {
		t.Error(`ParseDateRange("8d") accepted`)
	}
}

func TestDateStart(t *testing.T) {
	tests := []struct {
		zone, date, want string
	}{
		{"UTC", "2024-02-29", "2024-02-29T00:00:00Z"},
		{"Europe/Berlin", "2024-03-31", "2024-03-31T00:00:00+01:00"},
		// The clocks skip from 00:00 to 01:00: the date starts at 01:00.
		{"America/Santiago", "2024-09-08", "2024-09-08T01:00:00-03:00"},
		// The clocks go back from 00:00 to 23:00: midnight comes once, after.
		{"America/Santiago", "2024-04-07", "2024-04-07T00:00:00-04:00"},
	}
	for _, tt := range tests {
		d, _ := time.Parse(time.DateOnly, tt.date)
		got := tally.DateStart(d.Year(), d.Month(), d.Day(), mustLoad(t, tt.zone))
		if got.Format(time.RFC3339) != tt.want {
			t.Errorf("DateStart(%s) in %s = %s, want %s", tt.date, tt.zone, got.Format(time.RFC3339), tt.want)
		}
	}
}

func TestComparisonRange(t *testing.T) {
	tests := []struct {
		zone             string
		from, to         string
		c                tally.Comparison
		wantFrom, wantTo string
	}{
		{"UTC", "2024-03-01", "2024-03-08", tally.PreviousPeriod, "2024-02-23", "2024-03-01"},
		{"UTC", "2024-02-29", "2024-03-01", tally.PreviousYear, "2023-02-28", "2023-03-01"},
		{"UTC", "2024-02-01", "2024-02-29", tally.PreviousYear, "2023-02-01", "2023-02-28"},
		{"UTC", "2025-03-01", "2025-04-01", tally.PreviousPeriod, "2025-01-29", "2025-03-01"},
		{"UTC", "2025-01-31", "2025-02-01", tally.PreviousYear, "2024-01-31", "2024-02-01"},
		// Days, not hours: a week across a DST change compares with a week.
		{"Europe/Berlin", "2024-03-31", "2024-04-07", tally.PreviousPeriod, "2024-03-24", "2024-03-31"},
		{"America/Santiago", "2024-09-08", "2024-09-09", tally.PreviousPeriod, "2024-09-07", "2024-09-08"},
		{"America/Santiago", "2025-09-07", "2025-09-10", tally.PreviousYear, "2024-09-07", "2024-09-10"},
	}
	for _, tt := range tests {
		loc := mustLoad(t, tt.zone)
		at := func(s string) time.Time {
			d, _ := time.Parse(time.DateOnly, s)
			return tally.DateStart(d.Year(), d.Month(), d.Day(), loc)
		}
		from, to := tt.c.Range(at(tt.from), at(tt.to), loc)
		if got := [2]string{tally.FormatDate(from, loc), tally.FormatDate(to, loc)}; got != [2]string{tt.wantFrom, tt.wantTo} {
			t.Errorf("%s of [%s, %s) in %s = %v, want [%s, %s)", tt.c, tt.from, tt.to, tt.zone, got, tt.wantFrom, tt.wantTo)
		}
		if !from.Equal(at(tt.wantFrom)) || !to.Equal(at(tt.wantTo)) {
			t.Errorf("%s of [%s, %s) in %s: bounds are not local midnights", tt.c, tt.from, tt.to, tt.zone)
		}
	}
}

// Buckets must list exactly the buckets ReportBucket maps the instants of
// the range to, around every change of offset of every zone in 2024
// to 2026.
func TestBucketsEveryZone(t *testing.T) {
	zones, err := tzdb.Zones()
	if err != nil {
		t.Fatal(err)
	}
	lo := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	checked := 0
	for i := range zones {
		z := &zones[i]
		for _, c := range z.Changes {
			if c.At < lo || c.At >= hi {
				continue
			}
			for _, g := range []tally.Granularity{tally.Hour, tally.Day, tally.Week, tally.Month} {
				days, step := 2, int64(900)
				if g >= tally.Week {
					days, step = 40, 6*3600 // buckets of whole days
				}
				y, m, d := time.Unix(c.At, 0).In(z.Loc).Date()
				from := time.Date(y, m, d-days, 0, 0, 0, 0, z.Loc)
				to := time.Date(y, m, d+days+1, 0, 0, 0, 0, z.Loc)
				got, ok := tally.Buckets(from, to, g, z.Loc, 1<<20)
				if !ok {
					t.Fatalf("%s %s: more than 2^20 buckets", z.Name, g)
				}
				if want := naiveBuckets(from.Unix(), to.Unix(), step, g, z.Loc, c.At); !slices.Equal(got, want) {
					t.Errorf("%s %s [%s, %s): Buckets = %v, want %v", z.Name, g, from, to, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d ranges checked", checked)
	if checked == 0 {
		t.Fatal("no change of offset in the years checked")
	}
	// The limit.
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if keys, ok := tally.Buckets(from, from.AddDate(0, 0, 10), tally.Day, time.UTC, 10); !ok || len(keys) != 10 {
		t.Errorf("10 days with a limit of 10: %d buckets, %v", len(keys), ok)
	}
	if _, ok := tally.Buckets(from, from.AddDate(0, 0, 11), tally.Day, time.UTC, 10); ok {
		t.Error("11 days with a limit of 10: accepted")
	}
}

// naiveBuckets maps an instant every step seconds (every offset since 1970
// is a whole number of quarter hours, but a change may fall anywhere), and
// those around the change, to its bucket.
func naiveBuckets(from, to, step int64, g tally.Granularity, loc *time.Location, change int64) []int64 {
	var keys []int64
	add := func(s int64) {
		if s >= from && s < to {
			keys = append(keys, tally.ReportBucket(s, g, loc))
		}
	}
	for s := from; s < to; s += step {
		add(s)
	}
	add(change - 1)
	add(change)
	add(to - 1)
	slices.Sort(keys)
	return slices.Compact(keys)
}
