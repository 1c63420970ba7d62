package tally_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"0F8FAD5B-D9CB-469F-A165-70867728950E", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000", true},
		{"0f8fad5bd9cb469fa16570867728950e", "", false},
		{"0f8fad5b-d9cb-469f-a165-70867728950", "", false},
		{"0f8fad5b-d9cb-469f-a165-70867728950g", "", false},
		{"{0f8fad5b-d9cb-469f-a165-70867728950e}", "", false},
		{"0f8fad5b+d9cb-469f-a165-70867728950e", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		id, err := tally.ParseID(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseID(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && id.String() != tt.want {
			t.Errorf("ParseID(%q) = %s, want %s", tt.in, id, tt.want)
		}
		if !tt.ok && tally.ErrorCode(err) != tally.EInvalid {
			t.Errorf("ParseID(%q) code = %q, want invalid", tt.in, tally.ErrorCode(err))
		}
	}
}

func TestNewIDIsVersion4(t *testing.T) {
	seen := map[tally.ID]bool{}
	for range 1000 {
		id := tally.NewID()
		if id[6]>>4 != 4 || id[8]>>6 != 2 {
			t.Fatalf("NewID() = %s: not a version 4, variant 1 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %s", id)
		}
		seen[id] = true
		back, err := tally.ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("round trip of %s: %v, %v", id, back, err)
		}
	}
}

func TestEventValidate(t *testing.T) {
	good := tally.Event{Client: 1, ClientGroup: 2, Timestamp: time.Now(), Valid: true, Value: tally.DecimalFromMicros(3_500_000), Category: tally.NoCategory}
	tests := []struct {
		name  string
		edit  func(*tally.Event)
		field string // "" = valid
	}{
		{"valid", func(*tally.Event) {}, ""},
		{"category int32", func(e *tally.Event) { e.Category = math.MinInt32 }, ""},
		{"category too big", func(e *tally.Event) { e.Category = math.MaxInt32 + 1 }, "category"},
		{"device out of range", func(e *tally.Event) { e.DeviceType = 4 }, "device_type"},
		{"too large", func(e *tally.Event) { e.Value = tally.DecimalFromInt(2e15) }, "value"},
		{"just too large", func(e *tally.Event) { e.Value = tally.MaxValue.Add(tally.DecimalFromMicros(1)) }, "value"},
		{"max value", func(e *tally.Event) { e.Value = tally.MaxValue.Neg() }, ""},
		{"year 10000", func(e *tally.Event) { e.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp"},
		{"year 0001", func(e *tally.Event) { e.Timestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp"},
		{"before 1970", func(e *tally.Event) { e.Timestamp = tally.MinTime.Add(-time.Microsecond) }, "timestamp"},
		{"first instant of 1970", func(e *tally.Event) { e.Timestamp = tally.MinTime }, ""},
		{"latest time", func(e *tally.Event) { e.Timestamp = tally.MaxTime }, ""},
		// 10:00 UTC is already 10000-01-01 at +14:00.
		{"after the latest time", func(e *tally.Event) { e.Timestamp = tally.MaxTime.Add(time.Microsecond) }, "timestamp"},
		{"last hour of 9999 in UTC", func(e *tally.Event) { e.Timestamp = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC) }, "timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.edit(&e)
			err := e.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var te *tally.Error
			if !errors.As(err, &te) || te.Field != tt.field || te.Code != tally.EInvalid {
				t.Fatalf("Validate() = %#v, want invalid error on %s", err, tt.field)
			}
			if !strings.Contains(te.Message, tt.field) {
				t.Errorf("message %q does not name %s", te.Message, tt.field)
			}
			if tt.field == "timestamp" && !strings.Contains(te.Message, "from 1970-01-01T00:00:00Z to 9999-12-31T09:59:59.999999Z") {
				t.Errorf("message %q does not give the range", te.Message)
			}
		})
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	wrapped := fmt.Errorf("store: %w", tally.Errorf(tally.ENotFound, "event not found"))
	if got := tally.ErrorCode(wrapped); got != tally.ENotFound {
		t.Errorf("ErrorCode = %q", got)
	}
	if got := tally.ErrorMessage(wrapped); got != "event not found" {
		t.Errorf("ErrorMessage = %q", got)
	}
	plain := errors.New("disk on fire")
	if tally.ErrorCode(plain) != tally.EInternal || tally.ErrorMessage(plain) != "internal error" {
		t.Errorf("plain error leaks: %q %q", tally.ErrorCode(plain), tally.ErrorMessage(plain))
	}
	if tally.ErrorCode(nil) != "" {
		t.Error("ErrorCode(nil) != \"\"")
	}
}

func TestReportBucket(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	kolkata := mustLoad(t, "Asia/Kolkata")
	ny := mustLoad(t, "America/New_York")
	lordHowe := mustLoad(t, "Australia/Lord_Howe") // DST moves the clock by 30 minutes
	day := func(s string) int64 {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d.Unix()
	}
	at := func(s string) int64 {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts.Unix()
	}
	tests := []struct {
		at   string
		g    tally.Granularity
		loc  *time.Location
		want int64
	}{
		{"2026-11-02T13:45:10Z", tally.Day, time.UTC, day("2026-11-02")},
		{"2026-11-02T23:30:00Z", tally.Day, berlin, day("2026-11-03")},
		{"2026-11-02T13:45:10Z", tally.Hour, time.UTC, at("2026-11-02T13:00:00Z")},
		{"2026-11-02T13:45:10Z", tally.Hour, kolkata, at("2026-11-02T13:30:00Z")},
		{"2026-11-05T10:00:00Z", tally.Week, time.UTC, day("2026-11-02")},    // Thursday → Monday
		{"2026-11-02T00:00:00Z", tally.Week, time.UTC, day("2026-11-02")},    // Monday itself
		{"2026-11-01T23:59:59Z", tally.Week, time.UTC, day("2026-10-26")},    // Sunday
		{"2026-11-30T23:30:00Z", tally.Month, berlin, day("2026-12-01")},     // already December in Berlin
		{"2026-03-29T00:30:00Z", tally.Day, berlin, day("2026-03-29")},       // 23-hour local day
		{"2026-11-01T05:30:00Z", tally.Hour, ny, at("2026-11-01T05:00:00Z")}, // second 01:00 of the fall-back night
		{"2026-11-01T04:30:00Z", tally.Hour, ny, at("2026-11-01T04:00:00Z")}, // first 01:00
		{"1969-12-31T23:59:59Z", tally.Day, time.UTC, day("1969-12-31")},
		// Lord Howe springs forward from 02:00+10:30 to 02:30+11:00: the
		// hour 02:xx+11:00 starts at 02:30.
		{"2026-10-03T15:29:59Z", tally.Hour, lordHowe, at("2026-10-03T14:30:00Z")}, // 01:59:59+10:30
		{"2026-10-03T15:30:00Z", tally.Hour, lordHowe, at("2026-10-03T15:30:00Z")}, // 02:30+11:00
		{"2026-10-03T15:40:00Z", tally.Hour, lordHowe, at("2026-10-03T15:30:00Z")}, // 02:40+11:00
		{"2026-10-03T16:00:00Z", tally.Hour, lordHowe, at("2026-10-03T16:00:00Z")}, // 03:00+11:00
		{"2027-04-03T14:45:00Z", tally.Hour, lordHowe, at("2027-04-03T14:00:00Z")}, // 01:45+11:00
		{"2027-04-03T15:00:00Z", tally.Hour, lordHowe, at("2027-04-03T15:00:00Z")}, // falls back to 01:30+10:30
		{"2027-04-03T15:20:00Z", tally.Hour, lordHowe, at("2027-04-03T15:00:00Z")}, // 01:50+10:30
		{"2027-04-03T15:30:00Z", tally.Hour, lordHowe, at("2027-04-03T15:30:00Z")}, // 02:00+10:30
	}
	for _, tt := range tests {
		if got := tally.ReportBucket(at(tt.at), tt.g, tt.loc); got != tt.want {
			t.Errorf("ReportBucket(%s, %s, %s) = %s, want %s", tt.at, tt.g, tt.loc,
				time.Unix(got, 0).UTC().Format(time.RFC3339), time.Unix(tt.want, 0).UTC().Format(time.RFC3339))
		}
	}
}

func TestNormalize(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		q     tally.ReportQuery
		field string
	}{
		{"defaults", tally.ReportQuery{}, ""},
		{"repeated group_by", tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient, tally.ColClient}}, "group_by"},
		{"metric in group_by", tally.ReportQuery{GroupBy: []tally.Column{tally.ColSum}}, "group_by"},
		{"order_by not grouped", tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient}, OrderBy: []tally.Order{{Column: tally.ColValid}}}, "order_by"},
		{"order_by metric", tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient}, OrderBy: []tally.Order{{Column: tally.ColSum, Desc: true}}}, ""},
		{"order_by repeated", tally.ReportQuery{OrderBy: []tally.Order{{Column: tally.ColClient}, {Column: tally.ColClient, Desc: true}}}, "order_by"},
		{"start after end", tally.ReportQuery{Filter: tally.Filter{From: day.AddDate(0, 0, 1), To: day}}, "start_date"},
		{"start equals end", tally.ReportQuery{Filter: tally.Filter{From: day, To: day}}, ""},
		{"negative offset", tally.ReportQuery{Offset: -1}, "offset"},
		{"bad category", tally.ReportQuery{Filter: tally.Filter{Categories: []tally.Category{math.MaxInt32 + 1}}}, "categories"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			err := q.Normalize()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Normalize() = %v", err)
				}
				if len(q.GroupBy) == 0 || q.Location == nil {
					t.Fatalf("defaults not filled: %+v", q)
				}
				return
			}
			var te *tally.Error
			if !errors.As(err, &te) || te.Field != tt.field {
				t.Fatalf("Normalize() = %v, want error on %s", err, tt.field)
			}
		})
	}
}

func TestAggregatorOrderAndPaging(t *testing.T) {
	d := func(day int) int64 { return int64(day) * tally.SecondsPerDay }
	cells := []tally.Row{
		{Key: tally.CellKey{Bucket: d(1), DeviceType: tally.DeviceMobile, Category: 5, Client: 1, ClientGroup: 1, Valid: true}, Count: 2, Sum: tally.DecimalFromInt(10)},
		{Key: tally.CellKey{Bucket: d(1), DeviceType: tally.DeviceNone, Category: tally.NoCategory, Client: 2, ClientGroup: 1}, Count: 1, Sum: tally.DecimalFromInt(1)},
		{Key: tally.CellKey{Bucket: d(2), DeviceType: tally.DeviceDesktop, Category: 5, Client: 1, ClientGroup: 1, Valid: true}, Count: 3, Sum: tally.DecimalFromInt(3)},
		{Key: tally.CellKey{Bucket: d(2), DeviceType: tally.DeviceNone, Category: 7, Client: 2, ClientGroup: 1, Valid: true}, Count: 4, Sum: tally.DecimalFromInt(40)},
	}
	run := func(q tally.ReportQuery) tally.Report {
		t.Helper()
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		a := tally.NewAggregator(&q)
		for _, c := range cells {
			a.Add(c.Key, c.Count, c.Sum)
		}
		return a.Report()
	}
	devices := func(r tally.Report) string {
		var s []string
		for _, row := range r.Rows {
			s = append(s, fmt.Sprintf("%s:%d", row.Key.DeviceType, row.Count))
		}
		return strings.Join(s, " ")
	}
	byDevice := []tally.Column{tally.ColDeviceType}
	if got := devices(run(tally.ReportQuery{GroupBy: byDevice})); got != "null:5 desktop:3 mobile:2" {
		t.Errorf("ascending: %s", got)
	}
	if got := devices(run(tally.ReportQuery{GroupBy: byDevice, OrderBy: []tally.Order{{Column: tally.ColDeviceType, Desc: true}}})); got != "mobile:2 desktop:3 null:5" {
		t.Errorf("descending puts null last: %s", got)
	}
	if got := devices(run(tally.ReportQuery{GroupBy: byDevice, OrderBy: []tally.Order{{Column: tally.ColMean, Desc: true}}})); got != "null:5 mobile:2 desktop:3" {
		t.Errorf("by mean: %s", got)
	}
	r := run(tally.ReportQuery{GroupBy: byDevice, Offset: 1, Limit: 1})
	if r.TotalCount != 3 || devices(r) != "desktop:3" || r.Totals != (tally.Totals{Count: 10, Sum: tally.DecimalFromInt(54)}) {
		t.Errorf("page: total %d rows %s totals %+v", r.TotalCount, devices(r), r.Totals)
	}
	valid := true
	r = run(tally.ReportQuery{GroupBy: []tally.Column{tally.ColDate}, Filter: tally.Filter{Valid: &valid, Categories: []tally.Category{5}}})
	if r.TotalCount != 2 || r.Rows[0].Count != 2 || r.Rows[1].Count != 3 || r.Totals.Count != 5 {
		t.Errorf("filtered by date: %+v", r)
	}
	r = run(tally.ReportQuery{Filter: tally.Filter{From: time.Unix(d(2), 0), To: time.Unix(d(3), 0)}})
	if r.TotalCount != 2 || r.Totals.Count != 7 {
		t.Errorf("date range: %+v", r)
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// The distinct aggregator keeps only the rows that can reach the page; it
// must give the same page, total and totals as the general one.
func TestDistinctAggregatorMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	seen := map[tally.CellKey]bool{}
	var cells []tally.Row
	for len(cells) < 2000 {
		k := tally.CellKey{
			Bucket:      int64(rng.IntN(20)) * tally.SecondsPerDay,
			DeviceType:  tally.DeviceType(rng.IntN(4)),
			Category:    tally.Category(rng.IntN(4)),
			Client:      int32(rng.IntN(10)),
			ClientGroup: int32(rng.IntN(3)),
			Valid:       rng.IntN(2) == 0,
		}
		if k.Category == 3 {
			k.Category = tally.NoCategory
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		cells = append(cells, tally.Row{Key: k, Count: int64(1 + rng.IntN(3)), Sum: tally.DecimalFromInt(int64(rng.IntN(100)))})
	}
	cols := append([]tally.Column(nil), tally.Dimensions...)
	for i := range 200 {
		rng.Shuffle(len(cols), func(i, j int) { cols[i], cols[j] = cols[j], cols[i] })
		q := tally.ReportQuery{GroupBy: append([]tally.Column(nil), cols...), Offset: rng.IntN(50), Limit: rng.IntN(40)}
		for _, c := range []tally.Column{cols[0], tally.ColSum, cols[3]} {
			if rng.IntN(2) == 0 {
				q.OrderBy = append(q.OrderBy, tally.Order{Column: c, Desc: rng.IntN(2) == 0})
			}
		}
		if rng.IntN(2) == 0 {
			q.Filter.Clients = []int32{1, 2, 3}
		}
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		general, distinct := tally.NewAggregator(&q), tally.NewDistinctAggregator(&q)
		for _, c := range cells {
			general.Add(c.Key, c.Count, c.Sum)
			distinct.Add(c.Key, c.Count, c.Sum)
		}
		want, got := general.Report(), distinct.Report()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("query %d %+v: distinct differs (-want +got):\n%s", i, q, diff)
		}
	}
}
