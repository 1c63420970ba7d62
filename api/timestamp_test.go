package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestTimestampForms: every RFC 3339 form is accepted, fractions beyond the
// microsecond are cut (as stored timestamps are), and a leap second is the
// last microsecond of its minute.
func TestTimestampForms(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"2026-06-13t12:00:00z", "2026-06-13T12:00:00Z"},
		{"2026-06-13t12:00:00+02:00", "2026-06-13T10:00:00Z"},
		{"2026-06-13T12:00:00.5z", "2026-06-13T12:00:00.5Z"},
		{"2026-06-13T12:00:00.1234569Z", "2026-06-13T12:00:00.123456Z"},
		{"2026-06-13T12:00:00.123456999999999999Z", "2026-06-13T12:00:00.123456Z"},
		{"2026-06-13T12:00:00.000000999Z", "2026-06-13T12:00:00Z"},
		{"2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"},
		{"2016-12-31t23:59:60.5z", "2016-12-31T23:59:59.999999Z"},
		{"2017-01-01T00:59:60+01:00", "2016-12-31T23:59:59.999999Z"},
		{"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
		{"1970-01-01T01:00:00+01:00", "1970-01-01T00:00:00Z"},
		{"9999-12-31T09:59:59.999999Z", "9999-12-31T09:59:59.999999Z"},
		{"9999-12-31T09:59:59.9999999Z", "9999-12-31T09:59:59.999999Z"}, // cut, then in range
		{"9999-12-31T23:59:59.999999+14:00", "9999-12-31T09:59:59.999999Z"},
		{"9999-12-31T09:59:60Z", "9999-12-31T09:59:59.999999Z"},
	}
	ts := newServer(t)
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r := ts.post(t, "/event", event(map[string]any{"timestamp": tt.in}))
			if r.Status != http.StatusCreated {
				t.Fatalf("status %d, want 201: %s", r.Status, r.Body)
			}
			var got struct {
				Timestamp string `json:"timestamp"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Timestamp != tt.want {
				t.Errorf("stored %s, want %s", got.Timestamp, tt.want)
			}
		})
	}
}

// TestTimestampRange: timestamps run from the first instant of 1970 to the
// last microsecond that is still in year 9999 in every zone, and the
// message names the field and the range.
func TestTimestampRange(t *testing.T) {
	for _, in := range []string{
		"0001-01-01T00:00:00Z",
		"1969-12-31T23:59:59.999999Z",
		"1970-01-01T00:59:59+01:00",
		"9999-12-31T10:00:00Z",
		"9999-12-31T23:00:00Z",
		"9999-12-31T23:59:59.999999Z",
		"9999-12-31T09:59:59-00:01",
	} {
		t.Run(in, func(t *testing.T) {
			ts := newServer(t)
			r := ts.post(t, "/event", event(map[string]any{"timestamp": in}))
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
			}
			const want = "timestamp: must be from 1970-01-01T00:00:00Z to 9999-12-31T09:59:59.999999Z"
			if msg := r.errorMessage(t); msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
		})
	}
}

// TestReportAtTheTimeBounds: events at both ends of the range print as
// valid dates in the zones furthest east and west, and a date range that
// would end after 9999-12-31 is refused naming its parameter.
func TestReportAtTheTimeBounds(t *testing.T) {
	ts := newServer(t)
	for _, at := range []string{"1970-01-01T00:00:00Z", "9999-12-31T09:59:59.999999Z"} {
		if r := ts.post(t, "/event", event(map[string]any{"timestamp": at})); r.Status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", at, r.Status, r.Body)
		}
	}
	tests := []struct {
		query string
		want  []string // the date column of the rows
	}{
		// Kiritimati was at -10:40 in 1970 and is at +14:00 since 1995.
		{"group_by=date&tz=Pacific/Kiritimati", []string{"1969-12-31", "9999-12-31"}},
		{"group_by=date&tz=Asia/Kolkata", []string{"1970-01-01", "9999-12-31"}},
		{"group_by=date&tz=Etc/GMT%2B12", []string{"1969-12-31", "9999-12-30"}},
		{"group_by=date&granularity=week&tz=Etc/GMT%2B12", []string{"1969-12-29", "9999-12-27"}},
		{"group_by=date&granularity=month&tz=Pacific/Kiritimati", []string{"1969-12", "9999-12"}},
		{"group_by=date&granularity=hour&tz=Pacific/Kiritimati", []string{"1969-12-31T13:00:00-10:40", "9999-12-31T23:00:00+14:00"}},
		{"group_by=date&tz=Pacific/Kiritimati&start_date=9999-12-31", []string{"9999-12-31"}},
		// The last day is left out by end_date=9999-12-31 and kept without end_date.
		{"group_by=date&tz=Pacific/Kiritimati&start_date=1969-12-31&end_date=9999-12-31", []string{"1969-12-31"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := ts.get(t, "/report?"+tt.query)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var body struct {
				Rows []map[string]any `json:"rows"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, row := range body.Rows {
				for _, k := range []string{"day", "week", "month", "hour"} {
					if v, ok := row[k].(string); ok {
						got = append(got, v)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("dates %q, want %q", got, tt.want)
			}
		})
	}
	for _, q := range []string{"end_date=10000-01-01", "start_date=10000-01-01"} {
		t.Run(q, func(t *testing.T) {
			r := ts.get(t, "/report?"+q)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
			}
			name := q[:strings.Index(q, "=")]
			if msg := r.errorMessage(t); !strings.HasPrefix(msg, name+": ") {
				t.Errorf("message %q does not start with %q", msg, name+": ")
			}
		})
	}
}
