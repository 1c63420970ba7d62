// Package storetest is the conformance suite every tally.Store must pass.
// A backend's test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the machine's zoneinfo

	"github.com/tallyhq/tally"
)

// Options sizes the suite for the backend under test.
type Options struct {
	// RandomEvents is the number of events of the randomized test (default
	// 3000); RandomQueries the number of reports checked against the naive
	// recomputation (default 300). A slow backend passes smaller numbers.
	RandomEvents  int
	RandomQueries int
	// Seed seeds the randomized test; 0 picks one from the clock. The
	// environment variable TALLY_STORETEST_SEED overrides both, to replay a
	// failure.
	Seed int64
}

// Run runs the whole suite; every subtest gets its own store from newStore,
// which should register its own cleanup (t.Cleanup) to close it.
func Run(t *testing.T, newStore func(t *testing.T) tally.Store, opts Options) {
	if opts.RandomEvents <= 0 {
		opts.RandomEvents = 3000
	}
	if opts.RandomQueries <= 0 {
		opts.RandomQueries = 300
	}
	t.Run("Event", func(t *testing.T) { testEvent(t, newStore) })
	t.Run("CreateEvents", func(t *testing.T) { testCreateEvents(t, newStore) })
	t.Run("Report", func(t *testing.T) { testReport(t, newStore) })
	t.Run("ReportZones", func(t *testing.T) { testReportZones(t, newStore) })
	t.Run("Random", func(t *testing.T) { testRandom(t, newStore, opts) })
}

// mustCreate stores events with CreateEvent.
func mustCreate(t *testing.T, s tally.Store, events ...tally.Event) {
	t.Helper()
	for _, e := range events {
		if err := s.CreateEvent(context.Background(), e); err != nil {
			t.Fatalf("CreateEvent(%s): %v", e.ID, err)
		}
	}
}

// MustReport normalizes q, asks s for the report and fails the test on any
// error.
func MustReport(t testing.TB, s tally.Store, q tally.ReportQuery) tally.Report {
	t.Helper()
	if err := q.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	r, err := s.Report(context.Background(), q)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	return r
}

// wantCode fails unless err carries the domain error code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := tally.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q (err %v), want %q", what, got, err, code)
	}
}

// idOf makes a readable, fixed event id from a small number.
func idOf(n int) tally.ID {
	id, err := tally.ParseID(fmt.Sprintf("00000000-0000-4000-8000-%012d", n))
	if err != nil {
		panic(err)
	}
	return id
}

// date parses an RFC 3339 time or panics; fixtures only.
func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func loadZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// rowStrings renders a store's rows as "key key ...: count sum", the grouped
// columns in group_by order and written as the API writes them. It also
// checks that the columns not grouped are left zero, as tally.Row promises.
func rowStrings(t *testing.T, q *tally.ReportQuery, rows []tally.Row) []string {
	t.Helper()
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		keys := storeKey(q, r.Key)
		if zero := zeroUngrouped(q, r.Key); zero != r.Key {
			t.Errorf("row %v: columns not grouped are not zero", r.Key)
		}
		out = append(out, strings.Join(keys, " ")+": "+strconv.FormatInt(r.Count, 10)+" "+
			r.Sum.String())
	}
	return out
}

// storeKey renders the grouped columns of a store's row, interpreting
// Key.Bucket as tally.ReportBucket documents it.
func storeKey(q *tally.ReportQuery, k tally.CellKey) []string {
	out := make([]string, 0, len(q.GroupBy))
	for _, c := range q.GroupBy {
		var s string
		switch c {
		case tally.ColDate:
			t := time.Unix(k.Bucket, 0).UTC()
			switch q.Granularity {
			case tally.Hour:
				s = t.In(q.Location).Format(time.RFC3339)
			case tally.Month:
				s = t.Format("2006-01")
			default:
				s = t.Format(time.DateOnly)
			}
		case tally.ColDeviceType:
			s = k.DeviceType.String()
		case tally.ColCategory:
			s = "null"
			if k.Category != tally.NoCategory {
				s = strconv.FormatInt(int64(k.Category), 10)
			}
		case tally.ColClient:
			s = strconv.FormatInt(int64(k.Client), 10)
		case tally.ColClientGroup:
			s = strconv.FormatInt(int64(k.ClientGroup), 10)
		case tally.ColValid:
			s = strconv.FormatBool(k.Valid)
		}
		out = append(out, s)
	}
	return out
}

func zeroUngrouped(q *tally.ReportQuery, k tally.CellKey) tally.CellKey {
	if !q.Groups(tally.ColDate) {
		k.Bucket = 0
	}
	if !q.Groups(tally.ColDeviceType) {
		k.DeviceType = 0
	}
	if !q.Groups(tally.ColCategory) {
		k.Category = 0
	}
	if !q.Groups(tally.ColClient) {
		k.Client = 0
	}
	if !q.Groups(tally.ColClientGroup) {
		k.ClientGroup = 0
	}
	if !q.Groups(tally.ColValid) {
		k.Valid = false
	}
	return k
}

// describe renders a query for failure messages.
func describe(q *tally.ReportQuery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "group_by=%v order_by=[", q.GroupBy)
	for i, o := range q.OrderBy {
		if i > 0 {
			b.WriteByte(' ')
		}
		if o.Desc {
			b.WriteByte('-')
		}
		b.WriteString(o.Column.String())
	}
	f := &q.Filter
	fmt.Fprintf(&b, "] granularity=%v tz=%v offset=%d limit=%d", q.Granularity, q.Location, q.Offset, q.Limit)
	if f.Clients != nil {
		fmt.Fprintf(&b, " clients=%v", f.Clients)
	}
	if f.ClientGroups != nil {
		fmt.Fprintf(&b, " client_groups=%v", f.ClientGroups)
	}
	if f.DeviceTypes != nil {
		fmt.Fprintf(&b, " device_types=%v", f.DeviceTypes)
	}
	if f.Categories != nil {
		fmt.Fprintf(&b, " categories=%v", f.Categories)
	}
	if f.Valid != nil {
		fmt.Fprintf(&b, " valid=%v", *f.Valid)
	}
	if !f.From.IsZero() {
		fmt.Fprintf(&b, " from=%s", f.From.Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		fmt.Fprintf(&b, " to=%s", f.To.Format(time.RFC3339))
	}
	return b.String()
}
