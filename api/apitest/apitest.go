// Package apitest is the HTTP conformance suite: scenarios of the API that
// must hold on every store, run through the Go client against a real
// server. Each store's tests run it with a few lines (as pkgsite runs one
// API suite over two backends).
package apitest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
)

// Run runs every scenario, each on a server of its own: newServer starts
// the API on a fresh, empty store and returns its base URL; it stops
// when t ends.
func Run(t *testing.T, newServer func(t *testing.T) string) {
	connect := func(t *testing.T) *client.Client {
		t.Helper()
		c, err := client.New(newServer(t))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("EventLifecycle", func(t *testing.T) { testEventLifecycle(t, connect(t)) })
	t.Run("Bulk", func(t *testing.T) { testBulk(t, connect(t)) })
	t.Run("ExactSums", func(t *testing.T) { testExactSums(t, connect) })
	t.Run("ConcurrentClients", func(t *testing.T) { testConcurrentClients(t, connect(t)) })
	t.Run("ReportFilters", func(t *testing.T) { testReportFilters(t, connect(t)) })
}

var day0 = time.Date(2026, 5, 8, 0, 0, 0, 0, time.UTC)

func status(err error) int {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

func mustID(t *testing.T, s string) tally.ID {
	t.Helper()
	id, err := tally.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testEventLifecycle(t *testing.T, c *client.Client) {
	ctx := t.Context()
	e := tally.Event{
		ID:         mustID(t, "0B7E4F2A-1C3D-4E5F-8A9B-C0D1E2F3A4B0"),
		DeviceType: tally.DeviceMobile, Category: tally.CategoryOf(3), Client: 412, ClientGroup: 7,
		Timestamp: time.Date(2026, 5, 8, 13, 45, 10, 123456789, time.FixedZone("", 2*3600)),
		Valid:     true, Value: tally.MustDecimal("47.5"),
	}
	want := e
	want.Timestamp = time.Date(2026, 5, 8, 11, 45, 10, 123456000, time.UTC) // UTC, microseconds
	created, err := c.CreateEvent(ctx, &e)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	got, err := c.GetEvent(ctx, e.ID)
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	for name, e := range map[string]tally.Event{"created": created, "read": got} {
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	again := e
	again.Value = tally.MustDecimal("1")
	if _, err := c.CreateEvent(ctx, &again); status(err) != http.StatusConflict {
		t.Errorf("CreateEvent of a stored id: %v, want 409", err)
	}
	if got, _ := c.GetEvent(ctx, e.ID); !got.Value.Equal(want.Value) {
		t.Errorf("after the conflict the value is %s, want %s unchanged", got.Value, want.Value)
	}
	if err := c.DeleteEvent(ctx, e.ID); err != nil {
		t.Fatalf("DeleteEvent: %v", err)
	}
	if _, err := c.GetEvent(ctx, e.ID); status(err) != http.StatusNotFound {
		t.Errorf("GetEvent after delete: %v, want 404", err)
	}
	if err := c.DeleteEvent(ctx, e.ID); status(err) != http.StatusNotFound {
		t.Errorf("DeleteEvent again: %v, want 404", err)
	}
	rep, err := c.Report(ctx, &client.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TotalCount != 0 || rep.Totals.Count != 0 || len(rep.Rows) != 0 {
		t.Errorf("report after delete: %+v, want nothing", rep)
	}
}

func testBulk(t *testing.T, c *client.Client) {
	ctx := t.Context()
	ev := func(client int32, value string) tally.Event {
		return tally.Event{Client: client, ClientGroup: 1, Timestamp: day0.Add(time.Hour), Valid: true,
			Category: tally.NoCategory, Value: tally.MustDecimal(value)}
	}
	events := []tally.Event{ev(1, "1.25"), ev(2, "2"), ev(3, "-1e16"), ev(4, "0.000001")}
	events[1].ID = tally.NewID()
	events[3].ID = events[1].ID // a repeat within the batch
	res, err := c.CreateEvents(ctx, events)
	if err != nil {
		t.Fatalf("CreateEvents: %v", err)
	}
	if res.Accepted != 2 || res.Duplicates != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 2 ||
		res.Rejected[0].ID != events[2].ID.String() || !strings.HasPrefix(res.Rejected[0].Message, "value:") {
		t.Errorf("result %+v, want 2 accepted, 1 duplicate, #2 rejected naming value", res)
	}
	res, err = c.CreateEvents(ctx, events[:2])
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.BulkResult{Duplicates: 2}); !cmp.Equal(want, res) {
		t.Errorf("resent: %+v, want %+v", res, want)
	}
	rep, err := c.Report(ctx, &client.Query{GroupBy: []tally.Column{tally.ColClient}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (tally.Totals{Count: 2, Sum: tally.MustDecimal("3.25")}); *rep.Totals != want {
		t.Errorf("totals %+v, want %+v", *rep.Totals, want)
	}
}

// testExactSums: sums are the exact sum of the stored decimals, however
// events were added and deleted, in the rows and the totals alike (the
// reproductions of the exact-sums issue).
func testExactSums(t *testing.T, connect func(t *testing.T) *client.Client) {
	for _, tt := range []struct {
		name    string
		values  []string // created a minute apart from 05:00 UTC
		delete  []int    // indexes deleted afterwards
		query   client.Query
		wantSum string
	}{
		{"a cent next to 1e15, then 1e15 deleted", []string{"0.01", "1e15"}, []int{1},
			client.Query{GroupBy: []tally.Column{tally.ColClient}, Clients: []int32{7}}, "0.01"},
		{"0.1 and 0.2 on one day, then 0.1 deleted", []string{"0.1", "0.2"}, []int{0},
			client.Query{GroupBy: []tally.Column{tally.ColDate}}, "0.2"},
		{"0.1 + 0.2 in an hour bucket, from raw events", []string{"0.1", "0.2"}, nil,
			client.Query{GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Hour, TZ: "Asia/Kolkata"}, "0.3"},
		{"money", []string{"100.11", "200.22", "389.51"}, nil,
			client.Query{GroupBy: []tally.Column{tally.ColValid}}, "689.84"},
		{"sixteen significant digits", []string{"123456789012345.67"}, nil,
			client.Query{GroupBy: []tally.Column{tally.ColClient}}, "123456789012345.67"},
		{"beyond a float64's digits", []string{"999999999999999.999999", "999999999999999.999999"}, nil,
			client.Query{GroupBy: []tally.Column{tally.ColClient}}, "1999999999999999.999998"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := connect(t)
			var ids []tally.ID
			for i, v := range tt.values {
				// Within one local hour in Kolkata: 05:00 UTC is 10:30 there.
				e := tally.Event{Client: 7, ClientGroup: 1, Timestamp: day0.Add(5*time.Hour + time.Duration(i)*time.Minute),
					Valid: true, Category: tally.NoCategory, Value: tally.MustDecimal(v)}
				if _, err := c.CreateEvent(t.Context(), &e); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, e.ID)
			}
			for _, i := range tt.delete {
				if err := c.DeleteEvent(t.Context(), ids[i]); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := c.Report(t.Context(), &tt.query)
			if err != nil {
				t.Fatal(err)
			}
			want := tally.MustDecimal(tt.wantSum)
			if len(rep.Rows) != 1 || !rep.Rows[0].Sum.Equal(want) || !rep.Totals.Sum.Equal(want) {
				t.Errorf("rows %+v, totals %+v; want one row and the totals with sum %s", rep.Rows, rep.Totals, tt.wantSum)
			}
		})
	}
}

// testConcurrentClients: many clients posting at once give an exact
// report.
func testConcurrentClients(t *testing.T, c *client.Client) {
	const clients, each = 12, 15
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for k := range clients {
		wg.Go(func() {
			for i := range each {
				// Two cells only, so that every client updates the same ones.
				e := tally.Event{Client: int32(i % 2), ClientGroup: 1, Timestamp: day0.Add(time.Duration(k) * time.Minute),
					Valid: true, Category: tally.NoCategory, Value: tally.DecimalFromInt(int64(i))}
				if _, err := c.CreateEvent(t.Context(), &e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := c.Report(t.Context(), &client.Query{GroupBy: []tally.Column{tally.ColClient}})
	if err != nil {
		t.Fatal(err)
	}
	// Client 0 gets values 0,2,…,14 from every client; client 1 gets 1,3,…,13.
	want := []client.Row{
		{Client: 0, Totals: tally.Totals{Count: 8 * clients, Sum: tally.DecimalFromInt(56 * clients)}},
		{Client: 1, Totals: tally.Totals{Count: 7 * clients, Sum: tally.DecimalFromInt(49 * clients)}},
	}
	if diff := cmp.Diff(want, rep.Rows, cmp.Comparer(tally.Decimal.Equal)); diff != "" {
		t.Errorf("report rows (-want +got):\n%s", diff)
	}
	for _, r := range rep.Rows {
		if m, _ := r.Mean(); m != 7 {
			t.Errorf("client %d: mean %v, want 7", r.Client, m)
		}
	}
}

// testReportFilters: list filters with null members, ordering, paging and
// the CSV export, which has the same rows as the JSON.
func testReportFilters(t *testing.T, c *client.Client) {
	ctx := t.Context()
	var events []tally.Event
	for i := range 12 {
		e := tally.Event{
			DeviceType: tally.DeviceType(i % 4), Category: tally.CategoryOf(int32(i % 3)),
			Client: int32(i % 5), ClientGroup: 1, Timestamp: day0.Add(time.Duration(i) * 7 * time.Hour),
			Valid: i%4 != 3, Value: tally.MustDecimal("0.5").Add(tally.DecimalFromInt(int64(i))),
		}
		if i%3 == 2 {
			e.Category = tally.NoCategory
		}
		events = append(events, e)
	}
	if res, err := c.CreateEvents(ctx, events); err != nil || res.Accepted != len(events) {
		t.Fatalf("CreateEvents: %+v, %v", res, err)
	}
	valid := true
	q := client.Query{
		GroupBy:     []tally.Column{tally.ColDate, tally.ColDeviceType, tally.ColCategory},
		OrderBy:     []tally.Order{{Column: tally.ColSum, Desc: true}},
		DeviceTypes: []tally.DeviceType{tally.DeviceNone, tally.DeviceDesktop},
		Categories:  []tally.Category{tally.NoCategory, tally.CategoryOf(0)},
		Valid:       &valid,
		StartDate:   day0, EndDate: day0.AddDate(0, 0, 3),
	}
	// The expected rows, computed here: none of the events shares a
	// (day, device, category), so each match is a row of its own.
	var want []client.Row
	for _, e := range events {
		if !e.Valid || (e.DeviceType != tally.DeviceNone && e.DeviceType != tally.DeviceDesktop) ||
			(e.Category != tally.NoCategory && e.Category != tally.CategoryOf(0)) {
			continue
		}
		want = append([]client.Row{{Date: e.Timestamp.Format(time.DateOnly), DeviceType: e.DeviceType, Category: e.Category,
			Totals: tally.Totals{Count: 1, Sum: e.Value}}}, want...) // descending sum
	}
	rep, err := c.Report(ctx, &q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rep.Rows, cmp.Comparer(tally.Decimal.Equal)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if rep.TotalCount != len(want) {
		t.Errorf("total_count %d, want %d", rep.TotalCount, len(want))
	}

	page := q
	page.Offset, page.Limit = 1, 2
	if rep, err := c.Report(ctx, &page); err != nil || !cmp.Equal(want[1:3], rep.Rows, cmp.Comparer(tally.Decimal.Equal)) {
		t.Errorf("page at offset 1 of 2: %+v, %v; want %+v", rep, err, want[1:3])
	}

	csv, err := c.ReportCSV(ctx, &q)
	if err != nil {
		t.Fatal(err)
	}
	defer csv.Close()
	body, err := io.ReadAll(csv)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"day,device_type,category,count,sum,mean"}
	for _, r := range want {
		cat := r.Value(tally.ColCategory)
		if cat == "null" {
			cat = ""
		}
		dev := r.Value(tally.ColDeviceType)
		if dev == "null" {
			dev = ""
		}
		// One event a row: its mean is its value, which is exact here.
		lines = append(lines, strings.Join([]string{r.Date, dev, cat, "1", r.Sum.String(), r.Sum.String()}, ","))
	}
	if diff := cmp.Diff(strings.Join(lines, "\n")+"\n", strings.ReplaceAll(string(body), "\r\n", "\n")); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
}
