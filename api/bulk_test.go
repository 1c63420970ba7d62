package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type bulkResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []rejection `json:"rejected"`
}

type rejection struct {
	Index   int     `json:"index"`
	ID      *string `json:"id"`
	Message string  `json:"message"`
}

func decodeBulk(t testing.TB, r *response) bulkResult {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("POST /events: %d %s", r.Status, r.Body)
	}
	var res bulkResult
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatalf("POST /events body %s: %v", r.Body, err)
	}
	return res
}

func gzipped(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// totalCount is the number of events the default report counts.
func totalCount(t testing.TB, ts *testServer) float64 {
	t.Helper()
	r := ts.get(t, "/report")
	if r.Status != http.StatusOK {
		t.Fatalf("/report: %d %s", r.Status, r.Body)
	}
	return decode(t, r.Body)["totals"].(map[string]any)["count"].(float64)
}

func TestCreateEventsOutcomes(t *testing.T) {
	const (
		stored = "3f2c1a9e-5b7d-4c8e-9f01-000000000001"
		fresh  = "3f2c1a9e-5b7d-4c8e-9f01-000000000002"
	)
	items := []string{
		event(map[string]any{"id": fresh}),                  // 0 accepted
		event(map[string]any{"client": nil}),                // 1 rejected: client
		event(map[string]any{"id": strings.ToUpper(fresh)}), // 2 duplicate of 0
		event(map[string]any{"id": stored}),                 // 3 duplicate of a stored event
		event(nil),                                          // 4 accepted, server id
		`[1]`,                                               // 5 rejected: not an object
		event(map[string]any{"id": fresh, "value": "x"}),    // 6 rejected, with its id
		`{"client":1,"client":2,"client_group":3,"timestamp":"2026-11-02T13:04:05Z","valid":true,"value":1}`, // 7 duplicate key
		event(map[string]any{"id": "not-a-uuid"}),                                                            // 8 rejected, id null
	}
	want := bulkResult{Accepted: 2, Duplicates: 2, Rejected: []rejection{
		{Index: 1, Message: "client: is required"},
		{Index: 5, Message: "event: must be a JSON object"},
		{Index: 6, ID: ptr(fresh), Message: "value: must be a number between -1e15 and 1e15; a JSON number is expected, not a string"},
		{Index: 7, Message: "client: given more than once"},
		{Index: 8, Message: "id: must be a UUID in 8-4-4-4-12 hex form"},
	}}
	bodies := map[string]struct{ body, contentType, encoding string }{
		"array":        {"[" + strings.Join(items, ",") + "]", "application/json", ""},
		"ndjson":       {strings.Join(items, "\n") + "\n", "application/x-ndjson", ""},
		"ndjson crlf":  {"\r\n" + strings.Join(items, "\r\n\r\n"), "application/x-ndjson; charset=utf-8", ""},
		"array gzip":   {gzipped(t, "["+strings.Join(items, ",\n")+"]"), "application/json", "gzip"},
		"ndjson gzip":  {gzipped(t, strings.Join(items, "\n")), "application/x-ndjson", "gzip"},
		"identity":     {"[" + strings.Join(items, ",") + "]", "application/json", "identity"},
		"pretty array": {"[\n  " + strings.Join(items, ",\n  ") + "\n]\n", "application/json", ""},
	}
	for name, b := range bodies {
		t.Run(name, func(t *testing.T) {
			ts := newServer(t)
			if r := ts.post(t, "/event", event(map[string]any{"id": stored})); r.Status != http.StatusCreated {
				t.Fatalf("seed: %d %s", r.Status, r.Body)
			}
			r := ts.do(t, http.MethodPost, "/events", map[string]string{"Content-Type": b.contentType, "Content-Encoding": b.encoding}, b.body)
			if diff := cmp.Diff(want, decodeBulk(t, r)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if got := totalCount(t, ts); got != 3 {
				t.Errorf("events counted after the batch: %v, want 3", got)
			}
			if r := ts.get(t, "/event/"+fresh); r.Status != http.StatusOK || decode(t, r.Body)["value"] != 47.5 {
				t.Errorf("GET the first of the duplicates: %d %s", r.Status, r.Body)
			}
			// Sent again: all duplicates now, except the server-id one.
			r = ts.do(t, http.MethodPost, "/events", map[string]string{"Content-Type": b.contentType, "Content-Encoding": b.encoding}, b.body)
			again := decodeBulk(t, r)
			if again.Accepted != 1 || again.Duplicates != 3 {
				t.Errorf("resent: accepted %d, duplicates %d; want 1, 3", again.Accepted, again.Duplicates)
			}
		})
	}
}

// TestCreateEventsSameMessages checks that a batch judges each event as
// POST /event does, message for message.
func TestCreateEventsSameMessages(t *testing.T) {
	invalid := []string{
		event(map[string]any{"color": "red"}),
		event(map[string]any{"device_type": "phone"}),
		event(map[string]any{"device_type": "null"}),
		event(map[string]any{"category": 1.5}),
		event(map[string]any{"category": 2147483648}),
		event(map[string]any{"client": "412"}),
		event(map[string]any{"client": json.Number("1e10")}),
		event(map[string]any{"client_group": nil, "valid": nil}),
		event(map[string]any{"timestamp": "2026-02-30T13:04:05Z"}),
		event(map[string]any{"timestamp": "0000-01-01T00:00:00Z"}),
		event(map[string]any{"value": 1.5e15}),
		event(map[string]any{"id": 5}),
		`{}`,
		`{"client":1,"client":1}`,
	}
	ts := newServer(t)
	var want []rejection
	for i, body := range invalid {
		r := ts.post(t, "/event", body)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("POST /event %s: %d %s", body, r.Status, r.Body)
		}
		want = append(want, rejection{Index: i, Message: r.errorMessage(t)})
	}
	got := decodeBulk(t, ts.post(t, "/events", "["+strings.Join(invalid, ",")+"]"))
	if diff := cmp.Diff(bulkResult{Rejected: want}, got); diff != "" {
		t.Errorf("batch vs single messages (-single +batch):\n%s", diff)
	}
}

func TestCreateEventsInvalidBodies(t *testing.T) {
	valid := event(nil)
	tests := []struct {
		name, body, contentType, encoding string
		want                              int
		msg                               string // the message must contain it
	}{
		{"empty", "", "application/json", "", 400, "body: must not be empty"},
		{"empty array", "[]", "application/json", "", 400, "holds no event"},
		{"empty ndjson", "\n\n  \n", "application/x-ndjson", "", 400, "holds no event"},
		{"object, not array", valid, "application/json", "", 400, "malformed JSON"},
		{"unclosed array", "[" + valid, "application/json", "", 400, "malformed JSON"},
		{"malformed in the middle", "[" + valid + ",{\"client\":}," + valid + "]", "application/json", "", 400, "malformed JSON"},
		{"trailing data", "[" + valid + "] []", "application/json", "", 400, "data after the array"},
		{"two values on a line", valid + " " + valid, "application/x-ndjson", "", 400, "more than one JSON value on a line"},
		{"malformed line", valid + "\n{\"client\":\n" + valid, "application/x-ndjson", "", 400, "malformed JSON"},
		{"NaN", `[{"value": NaN}]`, "application/json", "", 400, "malformed JSON"},
		{"invalid UTF-8", "[{\"\xff\": 1}]", "application/json", "", 400, "invalid UTF-8"},
		{"not gzip", "[" + valid + "]", "application/json", "gzip", 400, "not valid gzip"},
		{"truncated gzip", gzipped(t, "["+valid+"]")[:20], "application/json", "gzip", 400, "not valid gzip"},
		{"text/plain", "[" + valid + "]", "text/plain", "", 415, "Content-Type"},
		{"no Content-Type", "[" + valid + "]", "", "", 415, "Content-Type"},
		{"no Content-Type, NDJSON", valid + "\n", "", "", 415, "Content-Type"},
		{"br", "[" + valid + "]", "application/json", "br", 415, "Content-Encoding"},
		{"gzip twice", gzipped(t, gzipped(t, "["+valid+"]")), "application/json", "gzip, gzip", 415, "Content-Encoding"},
	}
	ts := newServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(t, http.MethodPost, "/events", map[string]string{"Content-Type": tt.contentType, "Content-Encoding": tt.encoding}, tt.body)
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
			}
			if msg := r.errorMessage(t); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
		})
	}
	if got := totalCount(t, ts); got != 0 {
		t.Errorf("%v events stored by rejected batches", got)
	}
}

func TestCreateEventsLimits(t *testing.T) {
	const maxEvents, maxBytes = 5, 2000
	limited := func(c *apiConfig) { c.MaxBatchEvents, c.MaxBatchBytes = maxEvents, maxBytes }
	array := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = event(nil)
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	bomb := gzipped(t, "["+event(nil)+strings.Repeat(" ", 12<<20)+"]") // 12 MiB of spaces in about 12 KiB
	tests := []struct {
		name, body, encoding string
		want                 int
	}{
		{"events at the limit", array(maxEvents), "", 200},
		{"one event too many", array(maxEvents + 1), "", 413},
		{"bytes at the limit", array(1) + strings.Repeat(" ", maxBytes-len(array(1))), "", 200},
		{"one byte too many", array(1) + strings.Repeat(" ", maxBytes-len(array(1))+1), "", 413},
		{"gzip within the limit", gzipped(t, array(maxEvents)), "gzip", 200},
		{"gzip bomb", bomb, "gzip", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, limited)
			r := ts.do(t, http.MethodPost, "/events", map[string]string{"Content-Encoding": tt.encoding}, tt.body)
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tt.want, r.Body)
			}
			if tt.want == 413 {
				msg := r.errorMessage(t)
				if want := fmt.Sprintf("limits: %d events and %d bytes", maxEvents, maxBytes); !strings.Contains(msg, want) {
					t.Errorf("message %q does not name the limits (%q)", msg, want)
				}
				if got := totalCount(t, ts); got != 0 {
					t.Errorf("%v events stored by a refused batch", got)
				}
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		ts := newServer(t)
		r := ts.post(t, "/events", array(10001))
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("10,001 events: %d %.300s", r.Status, r.Body)
		}
		if msg := r.errorMessage(t); !strings.Contains(msg, "10000 events and 10485760 bytes") {
			t.Errorf("message %q does not name the default limits", msg)
		}
		res := decodeBulk(t, ts.post(t, "/events", array(10000)))
		if res.Accepted != 10000 {
			t.Errorf("10,000 events: accepted %d", res.Accepted)
		}
	})
}

func ptr[T any](v T) *T { return &v }
