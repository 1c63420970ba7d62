package bench

import (
	"testing"
	"time"

	"github.com/tallyhq/tally"
)

// The raw scan's buckets, written out by hand: a mistake here would make
// the baseline agree with a wrong server or fail a right one.
func TestScanBucket(t *testing.T) {
	for _, tc := range []struct {
		name        string
		zone        string
		at          string // RFC 3339
		granularity string
		want        string // as the API writes the bucket
	}{
		{"Kathmandu hour", "Asia/Kathmandu", "2025-12-31T10:20:00Z", "hour", "2025-12-31T16:00:00+05:45"},
		{"Kolkata hour", "Asia/Kolkata", "2025-12-31T18:29:59Z", "hour", "2025-12-31T23:00:00+05:30"},
		{"Berlin first 02:00 of the fall-back", "Europe/Berlin", "2025-10-26T00:10:00Z", "hour", "2025-10-26T02:00:00+02:00"},
		{"Berlin second 02:00 of the fall-back", "Europe/Berlin", "2025-10-26T01:10:00Z", "hour", "2025-10-26T02:00:00+01:00"},
		{"Lord Howe after its 30-minute shift", "Australia/Lord_Howe", "2025-10-04T15:40:00Z", "hour", "2025-10-05T02:30:00+11:00"},
		{"Lord Howe before it", "Australia/Lord_Howe", "2025-10-04T15:20:00Z", "hour", "2025-10-05T01:00:00+10:30"},
		{"Berlin day after UTC midnight", "Europe/Berlin", "2025-12-31T23:30:00Z", "", "2026-01-01"},
		{"New York day before UTC midnight", "America/New_York", "2026-01-01T03:00:00Z", "", "2025-12-31"},
		{"Lord Howe week from Monday", "Australia/Lord_Howe", "2025-12-28T13:30:00Z", "week", "2025-12-29"},
		{"Lord Howe week on Sunday", "Australia/Lord_Howe", "2025-12-28T12:30:00Z", "week", "2025-12-22"},
		{"month", "Asia/Kolkata", "2025-11-30T19:00:00Z", "month", "2025-12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			loc := mustZone(tc.zone)
			q := &Query{TZ: tc.zone, Granularity: tc.granularity}
			got := naiveValue(q, loc, "date", scanBucket(at.In(loc), tc.granularity))
			if got != tc.want {
				t.Errorf("bucket of %s in %s = %s, want %s", tc.at, tc.zone, got, tc.want)
			}
		})
	}
}

func TestCompareGroups(t *testing.T) {
	q := &Query{GroupBy: []string{"client"}, OrderBy: []string{"-sum"}}
	groups := q.groups()
	g := func(client int64, count int64, sum string) *scanGroup {
		return &scanGroup{vals: [6]int64{client}, count: count, sum: tally.MustDecimal(sum)}
	}
	for _, tc := range []struct {
		name string
		x, y *scanGroup
		want int
	}{
		{"larger sum first", g(2, 1, "10.5"), g(1, 9, "10.25"), -1},
		{"a tie falls back to the client, ascending", g(1, 3, "7"), g(2, 1, "7"), -1},
		{"the same group", g(5, 1, "7"), g(5, 1, "7"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := compareGroups(q, groups, tc.x, tc.y); got != tc.want {
				t.Errorf("compareGroups = %d, want %d", got, tc.want)
			}
			if got := compareGroups(q, groups, tc.y, tc.x); got != -tc.want {
				t.Errorf("reversed, compareGroups = %d, want %d", got, -tc.want)
			}
		})
	}
}

// "Last N days" of a zoned query are the data set's last N local days: the
// local date of its last instant and the ones before it.
func TestStandardQueriesLocalDays(t *testing.T) {
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := map[string][2]string{
		"Q7":  {"2025-12-03", "2026-01-02"}, // Berlin: 23:59 UTC is 00:59 on 1 January
		"Q8":  {"2025-12-26", "2026-01-02"},
		"Q9":  {"2025-12-02", "2026-01-01"}, // New York: still 31 December
		"Q10": {"", ""},
		"Q11": {"2025-12-31", "2026-01-02"},
	}
	for _, q := range StandardQueries(end) {
		w, ok := want[q.Name]
		if !ok {
			continue
		}
		cq := q.Client()
		p := cq.Values()
		if got := [2]string{p.Get("start_date"), p.Get("end_date")}; got != w {
			t.Errorf("%s: start_date, end_date = %v, want %v", q.Name, got, w)
		}
		if p.Get("tz") == "" {
			t.Errorf("%s: no tz in %s", q.Name, p.Encode())
		}
	}
}
