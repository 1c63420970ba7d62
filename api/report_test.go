package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
)

// fixture stores five events over three UTC days (2026-11-01 is a Sunday).
func fixture(t testing.TB, ts *testServer) {
	t.Helper()
	for _, e := range []string{
		`{"device_type":"desktop","category":1,"client":1,"client_group":10,"timestamp":"2026-11-01T10:00:00Z","valid":true,"value":10}`,
		`{"device_type":"mobile","category":null,"client":1,"client_group":10,"timestamp":"2026-11-01T23:30:00Z","valid":false,"value":20}`,
		`{"client":2,"category":2,"client_group":20,"timestamp":"2026-11-02T00:30:00Z","valid":true,"value":30}`,
		`{"device_type":"tablet","category":1,"client":2,"client_group":20,"timestamp":"2026-11-02T12:00:00Z","valid":true,"value":40}`,
		`{"device_type":"desktop","client":3,"client_group":10,"timestamp":"2026-11-03T05:00:00Z","valid":true,"value":50}`,
	} {
		if r := ts.post(t, "/event", e); r.Status != http.StatusCreated {
			t.Fatalf("fixture event: %d %s", r.Status, r.Body)
		}
	}
}

type row = map[string]any

func TestReport(t *testing.T) {
	ts := newServer(t)
	fixture(t, ts)
	tests := []struct {
		query string
		rows  []row
		total int
	}{
		{"group_by=client", []row{
			{"client": 1.0, "count": 2.0, "sum": 30.0, "mean": 15.0},
			{"client": 2.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"client": 3.0, "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 3},
		{"group_by=client&order_by=-sum", []row{
			{"client": 2.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"client": 3.0, "count": 1.0, "sum": 50.0, "mean": 50.0},
			{"client": 1.0, "count": 2.0, "sum": 30.0, "mean": 15.0},
		}, 3},
		{"group_by=client&order_by=mean", []row{
			{"client": 1.0, "count": 2.0, "sum": 30.0, "mean": 15.0},
			{"client": 2.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"client": 3.0, "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 3},
		{"group_by=client&limit=1&offset=1", []row{
			{"client": 2.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
		}, 3},
		{"group_by=date", []row{
			{"day": "2026-11-01", "count": 2.0, "sum": 30.0, "mean": 15.0},
			{"day": "2026-11-02", "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"day": "2026-11-03", "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 3},
		{"group_by=date&order_by=-date", []row{
			{"day": "2026-11-03", "count": 1.0, "sum": 50.0, "mean": 50.0},
			{"day": "2026-11-02", "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"day": "2026-11-01", "count": 2.0, "sum": 30.0, "mean": 15.0},
		}, 3},
		{"group_by=date&tz=Europe/Paris", []row{
			{"day": "2026-11-01", "count": 1.0, "sum": 10.0, "mean": 10.0},
			{"day": "2026-11-02", "count": 3.0, "sum": 90.0, "mean": 30.0},
			{"day": "2026-11-03", "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 3},
		{"group_by=date&start_date=2026-11-02&end_date=2026-11-03", []row{
			{"day": "2026-11-02", "count": 2.0, "sum": 70.0, "mean": 35.0},
		}, 1},
		{"group_by=date&start_date=2026-11-02&end_date=2026-11-03&tz=Europe/Paris", []row{
			{"day": "2026-11-02", "count": 3.0, "sum": 90.0, "mean": 30.0},
		}, 1},
		{"group_by=date&granularity=week", []row{
			{"week": "2026-10-26", "count": 2.0, "sum": 30.0, "mean": 15.0},
			{"week": "2026-11-02", "count": 3.0, "sum": 120.0, "mean": 40.0},
		}, 2},
		{"group_by=date&granularity=month", []row{
			{"month": "2026-11", "count": 5.0, "sum": 150.0, "mean": 30.0},
		}, 1},
		{"group_by=date&granularity=hour&clients=2", []row{
			{"hour": "2026-11-02T00:00:00Z", "count": 1.0, "sum": 30.0, "mean": 30.0},
			{"hour": "2026-11-02T12:00:00Z", "count": 1.0, "sum": 40.0, "mean": 40.0},
		}, 2},
		{"group_by=date&granularity=hour&clients=3&tz=Asia/Kolkata", []row{
			{"hour": "2026-11-03T10:00:00+05:30", "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 1},
		{"group_by=client&granularity=month", []row{ // no date: no effect
			{"client": 1.0, "count": 2.0, "sum": 30.0, "mean": 15.0},
			{"client": 2.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"client": 3.0, "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 3},
		{"group_by=device_type", []row{
			{"device_type": nil, "count": 1.0, "sum": 30.0, "mean": 30.0},
			{"device_type": "desktop", "count": 2.0, "sum": 60.0, "mean": 30.0},
			{"device_type": "mobile", "count": 1.0, "sum": 20.0, "mean": 20.0},
			{"device_type": "tablet", "count": 1.0, "sum": 40.0, "mean": 40.0},
		}, 4},
		{"group_by=device_type&order_by=-device_type", []row{
			{"device_type": "tablet", "count": 1.0, "sum": 40.0, "mean": 40.0},
			{"device_type": "mobile", "count": 1.0, "sum": 20.0, "mean": 20.0},
			{"device_type": "desktop", "count": 2.0, "sum": 60.0, "mean": 30.0},
			{"device_type": nil, "count": 1.0, "sum": 30.0, "mean": 30.0},
		}, 4},
		{"group_by=device_type&device_types=null", []row{
			{"device_type": nil, "count": 1.0, "sum": 30.0, "mean": 30.0},
		}, 1},
		{"group_by=category", []row{
			{"category": nil, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"category": 1.0, "count": 2.0, "sum": 50.0, "mean": 25.0},
			{"category": 2.0, "count": 1.0, "sum": 30.0, "mean": 30.0},
		}, 3},
		{"group_by=category&categories=null+2", []row{
			{"category": nil, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"category": 2.0, "count": 1.0, "sum": 30.0, "mean": 30.0},
		}, 2},
		{"group_by=valid&order_by=-valid", []row{
			{"valid": true, "count": 4.0, "sum": 130.0, "mean": 32.5},
			{"valid": false, "count": 1.0, "sum": 20.0, "mean": 20.0},
		}, 2},
		{"group_by=valid&valid=false", []row{
			{"valid": false, "count": 1.0, "sum": 20.0, "mean": 20.0},
		}, 1},
		{"group_by=client_group&client_groups=20", []row{
			{"client_group": 20.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
		}, 1},
		{"group_by=valid+client&order_by=client", []row{ // ties broken by valid
			{"valid": false, "client": 1.0, "count": 1.0, "sum": 20.0, "mean": 20.0},
			{"valid": true, "client": 1.0, "count": 1.0, "sum": 10.0, "mean": 10.0},
			{"valid": true, "client": 2.0, "count": 2.0, "sum": 70.0, "mean": 35.0},
			{"valid": true, "client": 3.0, "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 4},
		{"clients=3", []row{ // default group_by: all six
			{"day": "2026-11-03", "device_type": "desktop", "category": nil, "client": 3.0, "client_group": 10.0,
				"valid": true, "count": 1.0, "sum": 50.0, "mean": 50.0},
		}, 1},
		{"clients=99", []row{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.get(t, "/report?"+tt.query)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var got struct {
				Pagination map[string]float64 `json:"pagination"`
				Rows       []row              `json:"rows"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.rows, got.Rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			v, _ := url.ParseQuery(tt.query)
			wantPage := map[string]float64{"total_count": float64(tt.total), "offset": 0, "page_size": 100}
			if s := v.Get("offset"); s != "" {
				wantPage["offset"], _ = strconv.ParseFloat(s, 64)
			}
			if s := v.Get("limit"); s != "" {
				wantPage["page_size"], _ = strconv.ParseFloat(s, 64)
			}
			if diff := cmp.Diff(wantPage, got.Pagination); diff != "" {
				t.Errorf("pagination (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReportTotals(t *testing.T) {
	ts := newServer(t)
	fixture(t, ts)
	tests := []struct {
		query string
		want  map[string]any
	}{
		{"group_by=client&limit=1", map[string]any{"count": 5.0, "sum": 150.0, "mean": 30.0}},
		{"clients=1", map[string]any{"count": 2.0, "sum": 30.0, "mean": 15.0}},
		{"clients=99", map[string]any{"count": 0.0, "sum": 0.0, "mean": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got struct {
				Totals map[string]any `json:"totals"`
			}
			if err := json.Unmarshal(ts.get(t, "/report?"+tt.query).Body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Totals); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReportListSyntaxes checks that the three list syntaxes of the
// contract, and their mixes, mean the same.
func TestReportListSyntaxes(t *testing.T) {
	ts := newServer(t)
	fixture(t, ts)
	tests := []struct {
		name  string
		space string // the document's own form
		forms []string
	}{
		{"group_by", "group_by=client%20valid", []string{
			"group_by=client+valid", "group_by=client,valid", "group_by=client&group_by=valid",
			"group_by=client,+valid", "group_by=%20client%20%20valid%20",
		}},
		{"order_by", "group_by=client%20valid&order_by=-valid%20client", []string{
			"group_by=client,valid&order_by=-valid,client", "group_by=client&group_by=valid&order_by=-valid&order_by=client",
		}},
		{"clients", "group_by=client&clients=1%203", []string{
			"group_by=client&clients=1+3", "group_by=client&clients=1,3", "group_by=client&clients=1&clients=3",
		}},
		{"client_groups", "group_by=client&client_groups=10%2020", []string{
			"group_by=client&client_groups=10,20", "group_by=client&client_groups=10&client_groups=20",
		}},
		{"device_types", "group_by=device_type&device_types=null%20tablet", []string{
			"group_by=device_type&device_types=null+tablet", "group_by=device_type&device_types=null,tablet",
			"group_by=device_type&device_types=null&device_types=tablet",
		}},
		{"categories", "group_by=category&categories=null%201", []string{
			"group_by=category&categories=null,1", "group_by=category&categories=null&categories=1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := ts.get(t, "/report?"+tt.space)
			if want.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", tt.space, want.Status, want.Body)
			}
			if strings.Contains(string(want.Body), `"total_count":0`) {
				t.Fatalf("%s matched nothing: a poor test", tt.space)
			}
			for _, form := range tt.forms {
				got := ts.get(t, "/report?"+form)
				if diff := cmp.Diff(string(want.Body), string(got.Body)); diff != "" {
					t.Errorf("%s differs from %s (-want +got):\n%s", form, tt.space, diff)
				}
			}
		})
	}
}

func TestReportInvalid(t *testing.T) {
	tests := []struct {
		query string
		param string // the message must start with it
	}{
		{"foo=1", "foo"},
		{"groupby=client", "groupby"},
		{"offset=-1", "offset"},
		{"offset=x", "offset"},
		{"offset=2147483648", "offset"},
		{"limit=0", "limit"},
		{"limit=10001", "limit"},
		{"limit=1.5", "limit"},
		{"limit=1&limit=2", "limit"},
		{"group_by=", "group_by"},
		{"group_by=%20,", "group_by"},
		{"group_by=count", "group_by"},
		{"group_by=day", "group_by"},
		{"group_by=client+client", "group_by"},
		{"group_by=client&group_by=client", "group_by"},
		{"order_by=date&group_by=client", "order_by"},
		{"order_by=-valid&group_by=client", "order_by"},
		{"order_by=+client", "order_by"}, // + is a space: fine; see below for a bad name
		{"order_by=--client", "order_by"},
		{"order_by=client+-client", "order_by"},
		{"order_by=size", "order_by"},
		{"clients=abc", "clients"},
		{"clients=1,abc", "clients"},
		{"clients=2147483648", "clients"},
		{"client_groups=-2147483649", "client_groups"},
		{"client_groups=1.0", "client_groups"},
		{"device_types=phone", "device_types"},
		{"device_types=Desktop", "device_types"},
		{"categories=none", "categories"},
		{"categories=2147483648", "categories"},
		{"valid=yes", "valid"},
		{"valid=1", "valid"},
		{"valid=true&valid=false", "valid"},
		{"start_date=2026-13-01", "start_date"},
		{"start_date=2026-02-30", "start_date"},
		{"start_date=2026-11-02T00:00:00Z", "start_date"},
		{"end_date=yesterday", "end_date"},
		{"start_date=2026-11-03&end_date=2026-11-02", "start_date"},
		{"granularity=year", "granularity"},
		{"granularity=Day", "granularity"},
		{"tz=Mars/Olympus", "tz"},
		{"tz=Local", "tz"},
		{"tz=", "tz"},
		{"tz=../../etc/passwd", "tz"},
		{"format=xml", "format"},
	}
	ts := newServer(t)
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.get(t, "/report?"+tt.query)
			if tt.query == "order_by=+client" {
				// "+client" is " client": valid only with client grouped,
				// which the default group_by does.
				if r.Status != http.StatusOK {
					t.Errorf("status %d, want 200: %s", r.Status, r.Body)
				}
				return
			}
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
			}
			if msg := r.errorMessage(t); !strings.HasPrefix(msg, tt.param+": ") {
				t.Errorf("message %q does not start with %q", msg, tt.param+": ")
			}
		})
	}
}

// csvRows fetches a report as CSV and returns its header and records.
func csvRows(t testing.TB, ts *testServer, query string, header map[string]string) ([]string, [][]string) {
	t.Helper()
	r := ts.do(t, http.MethodGet, "/report?"+query, header, "")
	if r.Status != http.StatusOK {
		t.Fatalf("CSV %s: %d %s", query, r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("CSV %s: Content-Type %q", query, ct)
	}
	records, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV %s: %v\n%s", query, err, r.Body)
	}
	if len(records) == 0 {
		t.Fatalf("CSV %s: no header", query)
	}
	return records[0], records[1:]
}

// TestReportCSV checks that the CSV of a query holds the JSON rows of the
// same query: same columns in the same order, nulls as empty fields.
func TestReportCSV(t *testing.T) {
	ts := newServer(t)
	fixture(t, ts)
	queries := []string{
		"",
		"group_by=client",
		"group_by=device_type+category&order_by=-device_type",
		"group_by=date&granularity=hour&tz=Asia/Kolkata",
		"group_by=date&granularity=month",
		"group_by=valid+client_group&order_by=-count",
		"clients=99",
	}
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			var js struct {
				Rows []json.RawMessage `json:"rows"`
			}
			if err := json.Unmarshal(ts.get(t, "/report?limit=10000&"+q).Body, &js); err != nil {
				t.Fatal(err)
			}
			header, records := csvRows(t, ts, "format=csv&"+q, nil)
			want := [][]string{}
			for _, raw := range js.Rows {
				want = append(want, csvOf(t, raw, header))
			}
			if diff := cmp.Diff(want, records); diff != "" {
				t.Errorf("CSV records vs JSON rows (-want +got):\n%s", diff)
			}
			wantHeader := jsonKeys(t, js.Rows, header)
			if diff := cmp.Diff(wantHeader, header); diff != "" {
				t.Errorf("CSV header vs JSON keys (-want +got):\n%s", diff)
			}
		})
	}
}

// csvOf writes one JSON row as CSV fields in the header's order.
func csvOf(t testing.TB, raw json.RawMessage, header []string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if len(m) != len(header) {
		t.Errorf("JSON row %s has %d keys, CSV header %d", raw, len(m), len(header))
	}
	out := make([]string, len(header))
	for i, k := range header {
		v, ok := m[k]
		if !ok {
			t.Errorf("JSON row %s has no %q", raw, k)
		}
		switch v := v.(type) {
		case nil:
		case string:
			out[i] = v
		case json.Number:
			out[i] = v.String()
		case bool:
			out[i] = strconv.FormatBool(v)
		}
	}
	return out
}

// jsonKeys returns the keys of the first row in the order they were
// written, or, without rows, the expected header.
func jsonKeys(t testing.TB, rows []json.RawMessage, header []string) []string {
	t.Helper()
	if len(rows) == 0 {
		return header
	}
	dec := json.NewDecoder(strings.NewReader(string(rows[0])))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestReportCSVNegotiation(t *testing.T) {
	ts := newServer(t)
	fixture(t, ts)
	tests := []struct {
		name   string
		query  string
		accept string
		csv    bool
	}{
		{"Accept text/csv", "group_by=client", "text/csv", true},
		{"Accept text/*", "group_by=client", "text/*", true},
		{"Accept csv preferred", "group_by=client", "application/json;q=0.5, text/csv", true},
		{"Accept json preferred", "group_by=client", "application/json, text/csv;q=0.5", false},
		{"format=csv wins over Accept json", "group_by=client&format=csv", "application/json", true},
		{"format=json wins over Accept csv", "group_by=client&format=json", "text/csv", false},
		{"no Accept", "group_by=client", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(t, http.MethodGet, "/report?"+tt.query, map[string]string{"Accept": tt.accept}, "")
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			got := strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv")
			if got != tt.csv {
				t.Errorf("Content-Type %q, want CSV %v", r.Header.Get("Content-Type"), tt.csv)
			}
		})
	}
}

// TestReportCSVAllRows checks that CSV without limit/offset is not cut at
// the default page, and with them is that page.
func TestReportCSVAllRows(t *testing.T) {
	ts := newServer(t)
	const n = 150
	events := make([]tally.Event, n)
	for i := range events {
		events[i] = tally.Event{ID: tally.NewID(), Client: int32(i), Category: tally.NoCategory,
			Timestamp: time.Date(2026, 11, 2, 0, 0, i, 0, time.UTC), Value: tally.DecimalFromInt(1)}
	}
	if _, err := ts.store.CreateEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		rows  int
	}{
		{"group_by=client&format=csv", n},
		{"group_by=client&format=csv&limit=10", 10},
		{"group_by=client&format=csv&offset=140", 10},
		{"group_by=client&format=csv&offset=0", 100},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, records := csvRows(t, ts, tt.query, nil)
			if len(records) != tt.rows {
				t.Errorf("%d rows, want %d", len(records), tt.rows)
			}
		})
	}
}

// TestReportHoursAcrossHalfHourDST: Lord Howe Island moves its clock by 30
// minutes, so the hour bucket after each change starts at :30 and is
// labelled with the local time and offset of its first instant.
func TestReportHoursAcrossHalfHourDST(t *testing.T) {
	ts := newServer(t)
	var events []string
	for i, at := range []string{
		"2026-10-03T15:20:00Z", // 01:50+10:30
		"2026-10-03T15:40:00Z", // 02:40+11:00, after the spring forward at 02:00+10:30
		"2026-10-03T16:10:00Z", // 03:10+11:00
		"2027-04-03T14:45:00Z", // 01:45+11:00
		"2027-04-03T15:10:00Z", // 01:40+10:30, after the fall back at 02:00+11:00
	} {
		events = append(events, fmt.Sprintf(`{"client":9,"client_group":1,"timestamp":%q,"valid":true,"value":%d}`, at, 1<<i))
	}
	if r := ts.post(t, "/events", "["+strings.Join(events, ",")+"]"); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"accepted":5`) {
		t.Fatalf("POST /events: %d %s", r.Status, r.Body)
	}
	tests := []struct {
		query string
		rows  []row
	}{
		{"group_by=date&granularity=hour&tz=Australia/Lord_Howe&clients=9", []row{
			{"hour": "2026-10-04T01:00:00+10:30", "count": 1.0, "sum": 1.0, "mean": 1.0},
			{"hour": "2026-10-04T02:30:00+11:00", "count": 1.0, "sum": 2.0, "mean": 2.0},
			{"hour": "2026-10-04T03:00:00+11:00", "count": 1.0, "sum": 4.0, "mean": 4.0},
			{"hour": "2027-04-04T01:00:00+11:00", "count": 1.0, "sum": 8.0, "mean": 8.0},
			{"hour": "2027-04-04T01:30:00+10:30", "count": 1.0, "sum": 16.0, "mean": 16.0},
		}},
		{"group_by=date&tz=Australia/Lord_Howe&clients=9", []row{ // 23.5- and 24.5-hour days
			{"day": "2026-10-04", "count": 3.0, "sum": 7.0, "mean": 7.0 / 3},
			{"day": "2027-04-04", "count": 2.0, "sum": 24.0, "mean": 12.0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.get(t, "/report?"+tt.query)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var got struct {
				Rows []row `json:"rows"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.rows, got.Rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}
