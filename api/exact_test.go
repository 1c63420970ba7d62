package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// The reproductions of the exact-sums issue: sums are the exact sum of the
// stored decimals, however events were added and deleted, and print as
// written, never with float noise.
func TestExactSums(t *testing.T) {
	event := func(id, ts, value string) string {
		return `{"id":"` + id + `","client":7,"client_group":1,"timestamp":"` + ts + `","valid":true,"value":` + value + `}`
	}
	const (
		idA = "0b7e4f2a-1c3d-4e5f-8a9b-c0d1e2f3a4b0"
		idB = "0b7e4f2a-1c3d-4e5f-8a9b-c0d1e2f3a4b5"
	)
	tests := []struct {
		name    string
		create  []string // bodies of POST /event
		delete  []string // ids deleted afterwards
		query   string
		wantSum string // the rows' and the totals' sum, as JSON text
	}{
		{
			name: "a cent next to 1e15, then 1e15 deleted",
			create: []string{event(idA, "2026-05-08T10:00:00Z", "0.01"),
				event(idB, "2026-05-08T11:00:00Z", "1e15")},
			delete:  []string{idB},
			query:   "group_by=client&clients=7",
			wantSum: "0.01",
		},
		{
			name: "0.1 and 0.2 on one day, then 0.1 deleted",
			create: []string{event(idA, "2026-05-08T10:00:00Z", "0.1"),
				event(idB, "2026-05-08T11:00:00Z", "0.2")},
			delete:  []string{idA},
			query:   "group_by=date",
			wantSum: "0.2",
		},
		{
			name: "0.1 + 0.2 in an hour bucket, from raw events",
			create: []string{event(idA, "2026-05-08T10:00:00Z", "0.1"),
				event(idB, "2026-05-08T10:20:00Z", "0.2")},
			query:   "group_by=date&granularity=hour&tz=Asia/Kolkata",
			wantSum: "0.3",
		},
		{
			name: "money",
			create: []string{event(idA, "2026-05-08T10:00:00Z", "100.11"),
				event(idB, "2026-05-08T11:00:00Z", "200.22"),
				event("0b7e4f2a-1c3d-4e5f-8a9b-c0d1e2f3a4b6", "2026-05-08T12:00:00Z", "389.51")},
			query:   "group_by=valid",
			wantSum: "689.84",
		},
		{
			name:    "sixteen significant digits",
			create:  []string{event(idA, "2026-05-08T10:00:00Z", "123456789012345.67")},
			query:   "group_by=client",
			wantSum: "123456789012345.67",
		},
		{
			name: "beyond a float64's digits",
			create: []string{event(idA, "2026-05-08T10:00:00Z", "999999999999999.999999"),
				event(idB, "2026-05-09T10:00:00Z", "999999999999999.999999")},
			query:   "group_by=client",
			wantSum: "1999999999999999.999998",
		},
		{
			name:    "seven fractional digits round half to even",
			create:  []string{event(idA, "2026-05-08T10:00:00Z", "0.0000025")},
			query:   "group_by=client",
			wantSum: "0.000002",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t)
			for _, body := range tt.create {
				if r := ts.post(t, "/event", body); r.Status != http.StatusCreated {
					t.Fatalf("POST /event: %d %s", r.Status, r.Body)
				}
			}
			for _, id := range tt.delete {
				if r := ts.do(t, http.MethodDelete, "/event/"+id, nil, ""); r.Status != http.StatusNoContent {
					t.Fatalf("DELETE: %d %s", r.Status, r.Body)
				}
			}
			r := ts.get(t, "/report?"+tt.query)
			if r.Status != http.StatusOK {
				t.Fatalf("GET /report: %d %s", r.Status, r.Body)
			}
			body := string(r.Body)
			// One row: the row's sum and the totals' sum are both exact.
			if n := strings.Count(body, `"sum":`+tt.wantSum+`,`); n != 2 {
				t.Errorf("want the row and the totals to have sum %s, got %s", tt.wantSum, body)
			}
		})
	}
}

// A value is stored as the decimal the client wrote, and read back as such.
func TestExactValueRoundTrip(t *testing.T) {
	ts := newServer(t)
	for _, tc := range []struct{ in, want string }{
		{"123456789012345.67", "123456789012345.67"},
		{"-0.07", "-0.07"},
		{"1E+3", "1000"},
		{"2.50", "2.5"},
		{"1e-7", "0"},
	} {
		r := ts.post(t, "/event", `{"client":1,"client_group":1,"timestamp":"2026-05-08T10:00:00Z","valid":true,"value":`+tc.in+`}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", tc.in, r.Status, r.Body)
		}
		if !strings.Contains(string(r.Body), `"value":`+tc.want+`}`) {
			t.Errorf("POST value %s answered %s, want value %s", tc.in, r.Body, tc.want)
		}
		got := ts.get(t, r.Header.Get("Location"))
		if !strings.Contains(string(got.Body), `"value":`+tc.want+`}`) {
			t.Errorf("GET after value %s: %s, want value %s", tc.in, got.Body, tc.want)
		}
	}
	for _, bad := range []string{"1000000000000000.000001", "-1e16", "1e400"} {
		r := ts.post(t, "/event", `{"client":1,"client_group":1,"timestamp":"2026-05-08T10:00:00Z","valid":true,"value":`+bad+`}`)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "value") {
			t.Errorf("value %s: %d %s, want 400 naming value", bad, r.Status, r.Body)
		}
	}
}
