package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tallyhq/tally/api/apitest"
)

// TestHTTPConformance runs the HTTP scenarios every store must pass
// (exact sums among them) on the SQLite store; mongo's tests run them on
// MongoDB.
func TestHTTPConformance(t *testing.T) {
	apitest.Run(t, func(t *testing.T) string { return newServer(t).URL })
}

// The value of a sum rounds as a value written with more fractional digits
// than a decimal keeps; the client cannot send such a value, so this is
// checked on the wire.
func TestExactSumsRounding(t *testing.T) {
	ts := newServer(t)
	body := `{"client":7,"client_group":1,"timestamp":"2026-05-08T10:00:00Z","valid":true,"value":0.0000025}`
	if r := ts.post(t, "/event", body); r.Status != http.StatusCreated {
		t.Fatalf("POST /event: %d %s", r.Status, r.Body)
	}
	r := ts.get(t, "/report?group_by=client")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /report: %d %s", r.Status, r.Body)
	}
	// One row: the row's sum and the totals' sum are both exact.
	if n := strings.Count(string(r.Body), `"sum":0.000002,`); n != 2 {
		t.Errorf("want the row and the totals to have sum 0.000002 (half to even), got %s", r.Body)
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
