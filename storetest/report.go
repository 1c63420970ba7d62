package storetest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tallyhq/tally"
)

// Short names keep the report tables readable.
const (
	cDate   = tally.ColDate
	cDevice = tally.ColDeviceType
	cCat    = tally.ColCategory
	cClient = tally.ColClient
	cGroup  = tally.ColClientGroup
	cValid  = tally.ColValid
	cCount  = tally.ColCount
	cSum    = tally.ColSum
	cMean   = tally.ColMean
)

func by(cs ...tally.Column) []tally.Column { return cs }
func asc(c tally.Column) tally.Order       { return tally.Order{Column: c} }
func desc(c tally.Column) tally.Order      { return tally.Order{Column: c, Desc: true} }
func orders(os ...tally.Order) []tally.Order {
	return os
}
func ptr[T any](v T) *T { return &v }

// reportCase is one report over a fixture. want lists every row of the whole
// result ("key key ...: count sum"); a case with Offset or Limit gets the
// page cut out of want, so the expectation is written once.
type reportCase struct {
	name string
	q    tally.ReportQuery
	want []string
}

// reportFixture: values are powers of two, so a sum tells which events a row
// holds. Event 99 is created and deleted, so it must be in no report.
var reportFixture = []tally.Event{
	{ID: idOf(1), Timestamp: date("2026-03-01T10:00:00Z"), DeviceType: tally.DeviceDesktop, Category: 1, Client: 1, ClientGroup: 10, Valid: true, Value: tally.MustDecimal("1")},
	{ID: idOf(2), Timestamp: date("2026-03-01T23:59:59.999999Z"), DeviceType: tally.DeviceMobile, Category: tally.NoCategory, Client: 2, ClientGroup: 10, Valid: false, Value: tally.MustDecimal("2")},
	{ID: idOf(3), Timestamp: date("2026-03-02T00:00:00Z"), DeviceType: tally.DeviceNone, Category: 2, Client: 1, ClientGroup: 20, Valid: true, Value: tally.MustDecimal("4")},
	{ID: idOf(4), Timestamp: date("2026-03-02T12:30:00Z"), DeviceType: tally.DeviceTablet, Category: 1, Client: 3, ClientGroup: 20, Valid: true, Value: tally.MustDecimal("8")},
	{ID: idOf(5), Timestamp: date("2026-03-03T05:00:00Z"), DeviceType: tally.DeviceDesktop, Category: tally.NoCategory, Client: 2, ClientGroup: 10, Valid: false, Value: tally.MustDecimal("16")},
	{ID: idOf(6), Timestamp: date("2026-03-03T05:00:00Z"), DeviceType: tally.DeviceDesktop, Category: tally.NoCategory, Client: 2, ClientGroup: 10, Valid: false, Value: tally.MustDecimal("32")},
	{ID: idOf(7), Timestamp: date("2026-03-04T00:00:00Z"), DeviceType: tally.DeviceNone, Category: 0, Client: 1, ClientGroup: 10, Valid: true, Value: tally.MustDecimal("-0.5")},
	{ID: idOf(99), Timestamp: date("2026-03-02T08:00:00Z"), DeviceType: tally.DeviceMobile, Category: 5, Client: 9, ClientGroup: 99, Valid: true, Value: tally.MustDecimal("1000")},
}

var allSix = []string{
	"2026-03-01 desktop 1 1 10 true: 1 1",
	"2026-03-01 mobile null 2 10 false: 1 2",
	"2026-03-02 null 2 1 20 true: 1 4",
	"2026-03-02 tablet 1 3 20 true: 1 8",
	"2026-03-03 desktop null 2 10 false: 2 48",
	"2026-03-04 null 0 1 10 true: 1 -0.5",
}

var reportCases = []reportCase{
	// Grouping.
	{"default group_by is all six", tally.ReportQuery{}, allSix},
	{"date", tally.ReportQuery{GroupBy: by(cDate)},
		[]string{"2026-03-01: 2 3", "2026-03-02: 2 12", "2026-03-03: 2 48", "2026-03-04: 1 -0.5"}},
	{"device_type", tally.ReportQuery{GroupBy: by(cDevice)},
		[]string{"null: 2 3.5", "desktop: 3 49", "mobile: 1 2", "tablet: 1 8"}},
	{"category", tally.ReportQuery{GroupBy: by(cCat)},
		[]string{"null: 3 50", "0: 1 -0.5", "1: 2 9", "2: 1 4"}},
	{"client", tally.ReportQuery{GroupBy: by(cClient)},
		[]string{"1: 3 4.5", "2: 3 50", "3: 1 8"}},
	{"client_group", tally.ReportQuery{GroupBy: by(cGroup)},
		[]string{"10: 5 50.5", "20: 2 12"}},
	{"valid", tally.ReportQuery{GroupBy: by(cValid)},
		[]string{"false: 3 50", "true: 4 12.5"}},
	{"two dimensions in the order given", tally.ReportQuery{GroupBy: by(cValid, cClient)},
		[]string{"false 2: 3 50", "true 1: 3 4.5", "true 3: 1 8"}},
	{"all six in another order", tally.ReportQuery{GroupBy: by(cValid, cClient, cGroup, cCat, cDevice, cDate)},
		[]string{
			"false 2 10 null desktop 2026-03-03: 2 48",
			"false 2 10 null mobile 2026-03-01: 1 2",
			"true 1 10 0 null 2026-03-04: 1 -0.5",
			"true 1 10 1 desktop 2026-03-01: 1 1",
			"true 1 20 2 null 2026-03-02: 1 4",
			"true 3 20 1 tablet 2026-03-02: 1 8",
		}},

	// Ordering by dimensions: null first ascending, last descending.
	{"order date desc", tally.ReportQuery{GroupBy: by(cDate), OrderBy: orders(desc(cDate))},
		[]string{"2026-03-04: 1 -0.5", "2026-03-03: 2 48", "2026-03-02: 2 12", "2026-03-01: 2 3"}},
	{"order device_type asc", tally.ReportQuery{GroupBy: by(cDevice), OrderBy: orders(asc(cDevice))},
		[]string{"null: 2 3.5", "desktop: 3 49", "mobile: 1 2", "tablet: 1 8"}},
	{"order device_type desc", tally.ReportQuery{GroupBy: by(cDevice), OrderBy: orders(desc(cDevice))},
		[]string{"tablet: 1 8", "mobile: 1 2", "desktop: 3 49", "null: 2 3.5"}},
	{"order category desc", tally.ReportQuery{GroupBy: by(cCat), OrderBy: orders(desc(cCat))},
		[]string{"2: 1 4", "1: 2 9", "0: 1 -0.5", "null: 3 50"}},
	{"order client desc", tally.ReportQuery{GroupBy: by(cClient), OrderBy: orders(desc(cClient))},
		[]string{"3: 1 8", "2: 3 50", "1: 3 4.5"}},
	{"order client_group desc", tally.ReportQuery{GroupBy: by(cGroup), OrderBy: orders(desc(cGroup))},
		[]string{"20: 2 12", "10: 5 50.5"}},
	{"order valid asc", tally.ReportQuery{GroupBy: by(cValid), OrderBy: orders(asc(cValid))},
		[]string{"false: 3 50", "true: 4 12.5"}},
	{"order valid desc", tally.ReportQuery{GroupBy: by(cValid), OrderBy: orders(desc(cValid))},
		[]string{"true: 4 12.5", "false: 3 50"}},
	{"order by a later column, ties by group_by order",
		tally.ReportQuery{GroupBy: by(cClient, cValid), OrderBy: orders(desc(cValid))},
		[]string{"1 true: 3 4.5", "3 true: 1 8", "2 false: 3 50"}},
	{"two order terms", tally.ReportQuery{GroupBy: by(cDate, cGroup), OrderBy: orders(desc(cGroup), desc(cDate))},
		[]string{"2026-03-02 20: 2 12", "2026-03-04 10: 1 -0.5", "2026-03-03 10: 2 48", "2026-03-01 10: 2 3"}},

	// Ordering by metrics, ties by the grouped columns ascending.
	{"order count desc", tally.ReportQuery{GroupBy: by(cDevice), OrderBy: orders(desc(cCount))},
		[]string{"desktop: 3 49", "null: 2 3.5", "mobile: 1 2", "tablet: 1 8"}},
	{"order count asc", tally.ReportQuery{GroupBy: by(cClient), OrderBy: orders(asc(cCount))},
		[]string{"3: 1 8", "1: 3 4.5", "2: 3 50"}},
	{"order count then client desc", tally.ReportQuery{GroupBy: by(cClient), OrderBy: orders(asc(cCount), desc(cClient))},
		[]string{"3: 1 8", "2: 3 50", "1: 3 4.5"}},
	{"order sum asc", tally.ReportQuery{GroupBy: by(cCat), OrderBy: orders(asc(cSum))},
		[]string{"0: 1 -0.5", "2: 1 4", "1: 2 9", "null: 3 50"}},
	{"order sum desc", tally.ReportQuery{GroupBy: by(cCat), OrderBy: orders(desc(cSum))},
		[]string{"null: 3 50", "1: 2 9", "2: 1 4", "0: 1 -0.5"}},
	{"order mean asc", tally.ReportQuery{GroupBy: by(cDevice), OrderBy: orders(asc(cMean))},
		[]string{"null: 2 3.5", "mobile: 1 2", "tablet: 1 8", "desktop: 3 49"}},
	{"order mean desc", tally.ReportQuery{GroupBy: by(cClient, cDevice), OrderBy: orders(desc(cMean))},
		[]string{"2 desktop: 2 48", "3 tablet: 1 8", "2 mobile: 1 2", "1 null: 2 3.5", "1 desktop: 1 1"}},

	// Filters.
	{"clients", tally.ReportQuery{GroupBy: by(cClient), Filter: tally.Filter{Clients: []int32{1, 3}}},
		[]string{"1: 3 4.5", "3: 1 8"}},
	{"client_groups", tally.ReportQuery{Filter: tally.Filter{ClientGroups: []int32{20}}},
		[]string{"2026-03-02 null 2 1 20 true: 1 4", "2026-03-02 tablet 1 3 20 true: 1 8"}},
	{"device_types null", tally.ReportQuery{GroupBy: by(cDevice), Filter: tally.Filter{DeviceTypes: []tally.DeviceType{tally.DeviceNone}}},
		[]string{"null: 2 3.5"}},
	{"device_types desktop tablet", tally.ReportQuery{GroupBy: by(cDevice),
		Filter: tally.Filter{DeviceTypes: []tally.DeviceType{tally.DeviceTablet, tally.DeviceDesktop}}},
		[]string{"desktop: 3 49", "tablet: 1 8"}},
	{"categories null", tally.ReportQuery{GroupBy: by(cCat), Filter: tally.Filter{Categories: []tally.Category{tally.NoCategory}}},
		[]string{"null: 3 50"}},
	{"categories null and 2", tally.ReportQuery{GroupBy: by(cCat), Filter: tally.Filter{Categories: []tally.Category{2, tally.NoCategory}}},
		[]string{"null: 3 50", "2: 1 4"}},
	{"categories 0 is not null", tally.ReportQuery{GroupBy: by(cCat), Filter: tally.Filter{Categories: []tally.Category{0}}},
		[]string{"0: 1 -0.5"}},
	{"valid true", tally.ReportQuery{GroupBy: by(cValid), Filter: tally.Filter{Valid: ptr(true)}},
		[]string{"true: 4 12.5"}},
	{"valid false", tally.ReportQuery{GroupBy: by(cValid, cClient), Filter: tally.Filter{Valid: ptr(false)}},
		[]string{"false 2: 3 50"}},
	{"from inclusive to exclusive", tally.ReportQuery{GroupBy: by(cDate),
		Filter: tally.Filter{From: date("2026-03-02T00:00:00Z"), To: date("2026-03-03T00:00:00Z")}},
		[]string{"2026-03-02: 2 12"}},
	{"to excludes its midnight", tally.ReportQuery{GroupBy: by(cDate, cClient),
		Filter: tally.Filter{From: date("2026-03-01T00:00:00Z"), To: date("2026-03-02T00:00:00Z")}},
		[]string{"2026-03-01 1: 1 1", "2026-03-01 2: 1 2"}},
	{"from only", tally.ReportQuery{GroupBy: by(cDate), Filter: tally.Filter{From: date("2026-03-03T00:00:00Z")}},
		[]string{"2026-03-03: 2 48", "2026-03-04: 1 -0.5"}},
	{"to only", tally.ReportQuery{GroupBy: by(cDate), Filter: tally.Filter{To: date("2026-03-02T00:00:00Z")}},
		[]string{"2026-03-01: 2 3"}},
	{"from equals to", tally.ReportQuery{Filter: tally.Filter{From: date("2026-03-02T00:00:00Z"), To: date("2026-03-02T00:00:00Z")}},
		nil},
	{"bounds within a day", tally.ReportQuery{GroupBy: by(cDate),
		Filter: tally.Filter{From: date("2026-03-01T12:00:00Z"), To: date("2026-03-02T12:30:00Z")}},
		[]string{"2026-03-01: 1 2", "2026-03-02: 1 4"}},
	{"filters combined", tally.ReportQuery{GroupBy: by(cClient, cDevice), Filter: tally.Filter{
		Clients: []int32{1, 2}, Valid: ptr(true), DeviceTypes: []tally.DeviceType{tally.DeviceNone, tally.DeviceDesktop}}},
		[]string{"1 null: 2 3.5", "1 desktop: 1 1"}},
	{"empty list keeps nothing", tally.ReportQuery{Filter: tally.Filter{Clients: []int32{}}}, nil},
	{"no match", tally.ReportQuery{Filter: tally.Filter{Clients: []int32{42}}}, nil},
	{"deleted event counts nowhere", tally.ReportQuery{Filter: tally.Filter{Clients: []int32{9}}}, nil},
	{"range before every event", tally.ReportQuery{Filter: tally.Filter{To: date("2026-01-01T00:00:00Z")}}, nil},

	// Granularity in UTC.
	{"hour", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Hour},
		[]string{
			"2026-03-01T10:00:00Z: 1 1", "2026-03-01T23:00:00Z: 1 2", "2026-03-02T00:00:00Z: 1 4",
			"2026-03-02T12:00:00Z: 1 8", "2026-03-03T05:00:00Z: 2 48", "2026-03-04T00:00:00Z: 1 -0.5",
		}},
	{"week starts on monday", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Week},
		[]string{"2026-02-23: 2 3", "2026-03-02: 5 59.5"}},
	{"month", tally.ReportQuery{GroupBy: by(cDate, cValid), Granularity: tally.Month},
		[]string{"2026-03 false: 3 50", "2026-03 true: 4 12.5"}},
	{"granularity without date", tally.ReportQuery{GroupBy: by(cClient), Granularity: tally.Hour},
		[]string{"1: 3 4.5", "2: 3 50", "3: 1 8"}},

	// Paging.
	{"offset and limit", tally.ReportQuery{Offset: 2, Limit: 2}, allSix},
	{"limit beyond the end", tally.ReportQuery{Offset: 5, Limit: 10}, allSix},
	{"offset at the end", tally.ReportQuery{Offset: 6, Limit: 10}, allSix},
	{"offset beyond the end", tally.ReportQuery{Offset: 100}, allSix},
	{"limit with metric order", tally.ReportQuery{GroupBy: by(cDevice), OrderBy: orders(desc(cSum)), Limit: 1},
		[]string{"desktop: 3 49", "tablet: 1 8", "mobile: 1 2", "null: 2 3.5"}},
}

func testReport(t *testing.T, newStore func(t *testing.T) tally.Store) {
	s := newStore(t)
	mustCreate(t, s, reportFixture...)
	if err := s.DeleteEvent(context.Background(), idOf(99)); err != nil {
		t.Fatalf("DeleteEvent: %v", err)
	}
	runReportCases(t, s, reportCases)

	t.Run("pages concatenate to the whole result", func(t *testing.T) {
		for _, q := range []tally.ReportQuery{
			{},
			{GroupBy: by(cClient, cValid), OrderBy: orders(desc(cCount))},
			{GroupBy: by(cDevice, cDate), OrderBy: orders(asc(cMean)), Granularity: tally.Week},
		} {
			whole := MustReport(t, s, q)
			var pages []tally.Row
			for off := 0; off < whole.TotalCount+2; off += 2 {
				q.Offset, q.Limit = off, 2
				p := MustReport(t, s, q)
				if p.TotalCount != whole.TotalCount {
					t.Errorf("%s: TotalCount %d, want %d", describe(&q), p.TotalCount, whole.TotalCount)
				}
				pages = append(pages, p.Rows...)
			}
			q.Offset, q.Limit = 0, 0
			nq := normalized(q)
			if diff := cmp.Diff(rowStrings(t, nq, whole.Rows), rowStrings(t, nq, pages)); diff != "" {
				t.Errorf("%s: pages (-whole +pages):\n%s", describe(nq), diff)
			}
		}
	})

	t.Run("totals", func(t *testing.T) {
		r := MustReport(t, s, tally.ReportQuery{Filter: tally.Filter{Valid: ptr(true)}, Limit: 1})
		if diff := cmp.Diff(tally.Totals{Count: 4, Sum: tally.MustDecimal("12.5")}, r.Totals); diff != "" {
			t.Errorf("totals (-want +got):\n%s", diff)
		}
		r = MustReport(t, s, tally.ReportQuery{Filter: tally.Filter{Clients: []int32{42}}})
		if diff := cmp.Diff(tally.Report{}, r, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("empty report (-want +got):\n%s", diff)
		}
	})

	t.Run("empty store", func(t *testing.T) {
		r := MustReport(t, newStore(t), tally.ReportQuery{})
		if r.TotalCount != 0 || len(r.Rows) != 0 || r.Totals != (tally.Totals{}) {
			t.Errorf("report of an empty store: %+v", r)
		}
	})
}

// runReportCases runs each case as a subtest on the store s.
func runReportCases(t *testing.T, s tally.Store, cases []reportCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r := MustReport(t, s, tt.q)
			q := normalized(tt.q)
			start := min(q.Offset, len(tt.want))
			end := len(tt.want)
			if q.Limit > 0 {
				end = min(start+q.Limit, end)
			}
			want := tt.want[start:end]
			if diff := cmp.Diff(want, rowStrings(t, q, r.Rows), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: rows (-want +got):\n%s", describe(q), diff)
			}
			if r.TotalCount != len(tt.want) {
				t.Errorf("%s: TotalCount %d, want %d", describe(q), r.TotalCount, len(tt.want))
			}
			if want := totalsOf(t, tt.want); r.Totals != want {
				t.Errorf("%s: Totals %+v, want %+v", describe(q), r.Totals, want)
			}
		})
	}
}

// totalsOf adds up the "...: count sum" rows of a whole result.
func totalsOf(t *testing.T, rows []string) tally.Totals {
	t.Helper()
	var tot tally.Totals
	for _, r := range rows {
		f := strings.Fields(r[strings.LastIndex(r, ":")+1:])
		n, err1 := strconv.ParseInt(f[0], 10, 64)
		s, err2 := tally.ParseDecimal(f[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad want row %q", r)
		}
		tot.Count += n
		tot.Sum = tot.Sum.Add(s)
	}
	return tot
}

// zoneFixture straddles Berlin's DST changes of 2026 (29 March 01:00 UTC,
// 25 October 01:00 UTC) and local midnights in zones with :30 and :45
// offsets.
var zoneFixture = []tally.Event{
	{ID: idOf(1), Timestamp: date("2026-03-28T22:59:00Z"), Value: tally.MustDecimal("1")},   // Sat 28 Mar 23:59 CET
	{ID: idOf(2), Timestamp: date("2026-03-28T23:30:00Z"), Value: tally.MustDecimal("2")},   // Sun 29 Mar 00:30 CET
	{ID: idOf(3), Timestamp: date("2026-03-29T00:30:00Z"), Value: tally.MustDecimal("4")},   // 01:30 CET
	{ID: idOf(4), Timestamp: date("2026-03-29T01:30:00Z"), Value: tally.MustDecimal("8")},   // 03:30 CEST
	{ID: idOf(5), Timestamp: date("2026-03-29T21:59:00Z"), Value: tally.MustDecimal("16")},  // 23:59 CEST
	{ID: idOf(6), Timestamp: date("2026-03-29T22:00:00Z"), Value: tally.MustDecimal("32")},  // Mon 30 Mar 00:00 CEST
	{ID: idOf(7), Timestamp: date("2026-10-24T22:00:00Z"), Value: tally.MustDecimal("64")},  // Sun 25 Oct 00:00 CEST
	{ID: idOf(8), Timestamp: date("2026-10-25T00:30:00Z"), Value: tally.MustDecimal("128")}, // 02:30 CEST
	{ID: idOf(9), Timestamp: date("2026-10-25T01:30:00Z"), Value: tally.MustDecimal("256")}, // 02:30 CET, again
	{ID: idOf(10), Timestamp: date("2026-10-25T22:59:00Z"), Value: tally.MustDecimal("512")},
	{ID: idOf(11), Timestamp: date("2026-10-25T23:00:00Z"), Value: tally.MustDecimal("1024")}, // Mon 26 Oct 00:00 CET
	// Kolkata +05:30 and Kathmandu +05:45.
	{ID: idOf(21), Timestamp: date("2026-04-30T20:00:00Z"), Value: tally.MustDecimal("1")}, // 1 May 01:30 IST, 01:45 NPT
	{ID: idOf(22), Timestamp: date("2026-05-01T18:29:59Z"), Value: tally.MustDecimal("2")}, // 1 May 23:59:59 IST, 2 May 00:14:59 NPT
	{ID: idOf(23), Timestamp: date("2026-05-01T18:30:00Z"), Value: tally.MustDecimal("4")}, // 2 May 00:00 IST, 00:15 NPT
}

func testReportZones(t *testing.T, newStore func(t *testing.T) tally.Store) {
	s := newStore(t)
	events := make([]tally.Event, len(zoneFixture))
	for i, e := range zoneFixture {
		e.Client, e.ClientGroup, e.Category = 1, 1, tally.NoCategory
		events[i] = e
	}
	mustCreate(t, s, events...)

	berlin := loadZone(t, "Europe/Berlin")
	kolkata := loadZone(t, "Asia/Kolkata")
	kathmandu := loadZone(t, "Asia/Kathmandu")
	local := func(loc *time.Location, y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	march := tally.Filter{From: local(berlin, 2026, 3, 1), To: local(berlin, 2026, 4, 1)}
	october := tally.Filter{From: local(berlin, 2026, 10, 1), To: local(berlin, 2026, 11, 1)}
	may := func(loc *time.Location) tally.Filter {
		return tally.Filter{From: local(loc, 2026, 4, 1), To: local(loc, 2026, 6, 1)}
	}

	runReportCases(t, s, []reportCase{
		{"berlin days across DST", tally.ReportQuery{GroupBy: by(cDate), Location: berlin},
			[]string{"2026-03-28: 1 1", "2026-03-29: 4 30", "2026-03-30: 1 32", "2026-04-30: 1 1", "2026-05-01: 2 6",
				"2026-10-25: 4 960", "2026-10-26: 1 1024"}},
		{"the same days in UTC", tally.ReportQuery{GroupBy: by(cDate), Filter: tally.Filter{To: date("2026-04-01T00:00:00Z")}},
			[]string{"2026-03-28: 2 3", "2026-03-29: 4 60"}},
		{"berlin hours, spring forward", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Hour, Location: berlin,
			Filter: tally.Filter{From: local(berlin, 2026, 3, 29), To: local(berlin, 2026, 3, 30)}},
			[]string{"2026-03-29T00:00:00+01:00: 1 2", "2026-03-29T01:00:00+01:00: 1 4",
				"2026-03-29T03:00:00+02:00: 1 8", "2026-03-29T23:00:00+02:00: 1 16"}},
		{"berlin hours, fall back", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Hour, Location: berlin,
			Filter: tally.Filter{From: local(berlin, 2026, 10, 25), To: local(berlin, 2026, 10, 26)}},
			[]string{"2026-10-25T00:00:00+02:00: 1 64", "2026-10-25T02:00:00+02:00: 1 128",
				"2026-10-25T02:00:00+01:00: 1 256", "2026-10-25T23:00:00+01:00: 1 512"}},
		{"berlin hours, fall back, descending", tally.ReportQuery{GroupBy: by(cDate), OrderBy: orders(desc(cDate)),
			Granularity: tally.Hour, Location: berlin, Filter: tally.Filter{From: local(berlin, 2026, 10, 25), To: local(berlin, 2026, 10, 26)}},
			[]string{"2026-10-25T23:00:00+01:00: 1 512", "2026-10-25T02:00:00+01:00: 1 256",
				"2026-10-25T02:00:00+02:00: 1 128", "2026-10-25T00:00:00+02:00: 1 64"}},
		{"berlin weeks", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Week, Location: berlin, Filter: march},
			[]string{"2026-03-23: 5 31", "2026-03-30: 1 32"}},
		{"berlin weeks in october", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Week, Location: berlin, Filter: october},
			[]string{"2026-10-19: 4 960", "2026-10-26: 1 1024"}},
		{"berlin months", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Month, Location: berlin},
			[]string{"2026-03: 6 63", "2026-04: 1 1", "2026-05: 2 6", "2026-10: 5 1984"}},
		{"berlin bounds without date grouped", tally.ReportQuery{GroupBy: by(cClient), Location: berlin,
			Filter: tally.Filter{From: local(berlin, 2026, 3, 29), To: local(berlin, 2026, 3, 30)}},
			[]string{"1: 4 30"}},
		{"kolkata days", tally.ReportQuery{GroupBy: by(cDate), Location: kolkata, Filter: may(kolkata)},
			[]string{"2026-05-01: 2 3", "2026-05-02: 1 4"}},
		{"kolkata months", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Month, Location: kolkata, Filter: may(kolkata)},
			[]string{"2026-05: 3 7"}},
		{"the same months in UTC", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Month,
			Filter: tally.Filter{From: date("2026-04-01T00:00:00Z"), To: date("2026-06-01T00:00:00Z")}},
			[]string{"2026-04: 1 1", "2026-05: 2 6"}},
		{"kolkata hours", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Hour, Location: kolkata, Filter: may(kolkata)},
			[]string{"2026-05-01T01:00:00+05:30: 1 1", "2026-05-01T23:00:00+05:30: 1 2", "2026-05-02T00:00:00+05:30: 1 4"}},
		{"kolkata from local midnight", tally.ReportQuery{GroupBy: by(cDate), Location: kolkata,
			Filter: tally.Filter{From: local(kolkata, 2026, 5, 2), To: local(kolkata, 2026, 6, 1)}},
			[]string{"2026-05-02: 1 4"}},
		{"kathmandu days", tally.ReportQuery{GroupBy: by(cDate), Location: kathmandu, Filter: may(kathmandu)},
			[]string{"2026-05-01: 1 1", "2026-05-02: 2 6"}},
		{"kathmandu hours", tally.ReportQuery{GroupBy: by(cDate), Granularity: tally.Hour, Location: kathmandu, Filter: may(kathmandu)},
			[]string{"2026-05-01T01:00:00+05:45: 1 1", "2026-05-02T00:00:00+05:45: 2 6"}},
		{"kathmandu to local midnight", tally.ReportQuery{GroupBy: by(cDate), Location: kathmandu,
			Filter: tally.Filter{From: local(kathmandu, 2026, 4, 1), To: local(kathmandu, 2026, 5, 2)}},
			[]string{"2026-05-01: 1 1"}},
	})
}
