package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// event returns a valid POST /event body with the given fields replaced
// (a nil value deletes the field).
func event(changes map[string]any) string {
	m := map[string]any{
		"device_type": "mobile", "category": 7, "client": 412, "client_group": 3,
		"timestamp": "2026-11-02T13:04:05.123Z", "valid": true, "value": 47.5,
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// null stands for a JSON null in event's changes.
var null = json.RawMessage("null")

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

func TestCreateEvent(t *testing.T) {
	const id1 = "00000000-0000-4000-8000-000000000001"
	tests := []struct {
		name     string
		body     string
		location string
		want     map[string]any
	}{
		{
			name:     "all fields, server id",
			body:     event(nil),
			location: "/event/" + id1,
			want: map[string]any{"id": id1, "device_type": "mobile", "category": 7.0, "client": 412.0,
				"client_group": 3.0, "timestamp": "2026-11-02T13:04:05.123Z", "valid": true, "value": 47.5},
		},
		{
			name:     "upper-case id stored lower-case, offset converted to UTC, nulls",
			body:     event(map[string]any{"id": "3F2C1A9E-5B7D-4C8E-9F01-23456789ABCD", "timestamp": "2026-11-02T13:04:05.5+01:30", "device_type": null, "category": null}),
			location: "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd",
			want: map[string]any{"id": "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd", "device_type": nil, "category": nil, "client": 412.0,
				"client_group": 3.0, "timestamp": "2026-11-02T11:34:05.5Z", "valid": true, "value": 47.5},
		},
		{
			name:     "optional fields absent are null; int32 bounds; microseconds kept",
			body:     event(map[string]any{"device_type": nil, "category": nil, "client": -2147483648, "client_group": 2147483647, "timestamp": "2026-11-02T13:04:05.123456Z", "value": -1e15}),
			location: "/event/" + id1,
			want: map[string]any{"id": id1, "device_type": nil, "category": nil, "client": -2147483648.0,
				"client_group": 2147483647.0, "timestamp": "2026-11-02T13:04:05.123456Z", "valid": true, "value": -1e15},
		},
		{
			name:     "integers in any JSON spelling",
			body:     event(map[string]any{"client": json.Number("1e3"), "client_group": json.Number("2.0"), "category": json.Number("-5E0")}),
			location: "/event/" + id1,
			want: map[string]any{"id": id1, "device_type": "mobile", "category": -5.0, "client": 1000.0,
				"client_group": 2.0, "timestamp": "2026-11-02T13:04:05.123Z", "valid": true, "value": 47.5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t)
			r := ts.post(t, "/event", tt.body)
			if r.Status != http.StatusCreated {
				t.Fatalf("status %d, want 201: %s", r.Status, r.Body)
			}
			if got := r.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if diff := cmp.Diff(tt.want, decode(t, r.Body)); diff != "" {
				t.Errorf("created body (-want +got):\n%s", diff)
			}
			got := ts.get(t, tt.location)
			if got.Status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tt.location, got.Status, got.Body)
			}
			if diff := cmp.Diff(tt.want, decode(t, got.Body)); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateEventInvalid(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string // the message must start with it
	}{
		{"empty body", "", "body"},
		{"malformed JSON", `{"client": 1,`, "body"},
		{"not an object", `[1, 2]`, "body"},
		{"null", `null`, "body"},
		{"white space only", "  \n", "body"},
		{"trailing data", event(nil) + ` {}`, "body"},
		{"unknown field", event(map[string]any{"color": "red"}), "color"},
		{"id not a UUID", event(map[string]any{"id": "123"}), "id"},
		{"id not a string", event(map[string]any{"id": 5}), "id"},
		{"device_type unknown", event(map[string]any{"device_type": "phone"}), "device_type"},
		{"device_type \"null\" string", event(map[string]any{"device_type": "null"}), "device_type"},
		{"device_type wrong type", event(map[string]any{"device_type": 1}), "device_type"},
		{"category not an integer", event(map[string]any{"category": 1.5}), "category"},
		{"category above int32", event(map[string]any{"category": 2147483648}), "category"},
		{"category below int32", event(map[string]any{"category": -2147483649}), "category"},
		{"client missing", event(map[string]any{"client": nil}), "client"},
		{"client null", event(map[string]any{"client": null}), "client"},
		{"client a string", event(map[string]any{"client": "412"}), "client"},
		{"client above int32", event(map[string]any{"client": 2147483648}), "client"},
		{"client above int32 in exponent form", event(map[string]any{"client": json.Number("1e10")}), "client"},
		{"client_group missing", event(map[string]any{"client_group": nil}), "client_group"},
		{"client_group below int32", event(map[string]any{"client_group": -2147483649}), "client_group"},
		{"timestamp missing", event(map[string]any{"timestamp": nil}), "timestamp"},
		{"timestamp a date", event(map[string]any{"timestamp": "2026-11-02"}), "timestamp"},
		{"timestamp without zone", event(map[string]any{"timestamp": "2026-11-02T13:04:05"}), "timestamp"},
		{"timestamp not a date", event(map[string]any{"timestamp": "2026-02-30T13:04:05Z"}), "timestamp"},
		{"timestamp a number", event(map[string]any{"timestamp": 1700000000}), "timestamp"},
		{"valid missing", event(map[string]any{"valid": nil}), "valid"},
		{"valid a string", event(map[string]any{"valid": "true"}), "valid"},
		{"value missing", event(map[string]any{"value": nil}), "value"},
		{"value a string", event(map[string]any{"value": "1"}), "value"},
		{"value above 1e15", event(map[string]any{"value": 1.5e15}), "value"},
		{"value below -1e15", event(map[string]any{"value": -1e16}), "value"},
	}
	ts := newServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.post(t, "/event", tt.body)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
			}
			if msg := r.errorMessage(t); !strings.HasPrefix(msg, tt.field+": ") {
				t.Errorf("message %q does not start with %q", msg, tt.field+": ")
			}
		})
	}
	// Nothing was stored.
	if r := ts.get(t, "/report"); !strings.Contains(string(r.Body), `"total_count":0`) {
		t.Errorf("report after rejected events: %s", r.Body)
	}
}

func TestCreateEventConflict(t *testing.T) {
	ts := newServer(t)
	const id = "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"
	first := ts.post(t, "/event", event(map[string]any{"id": id, "value": 1}))
	if first.Status != http.StatusCreated {
		t.Fatalf("first POST: %d %s", first.Status, first.Body)
	}
	// Same id in another case: still the same event.
	r := ts.post(t, "/event", event(map[string]any{"id": strings.ToUpper(id), "value": 2}))
	if r.Status != http.StatusConflict {
		t.Fatalf("status %d, want 409: %s", r.Status, r.Body)
	}
	r.errorMessage(t)
	got := ts.get(t, "/event/"+id)
	if diff := cmp.Diff(decode(t, first.Body), decode(t, got.Body)); diff != "" {
		t.Errorf("stored event changed (-want +got):\n%s", diff)
	}
}

func TestCreateEventTooLarge(t *testing.T) {
	tests := []struct {
		name    string
		maxBody int64
		size    int
		want    int
	}{
		{"default limit, just below", 0, 1<<20 - 1, http.StatusBadRequest}, // padded but a valid size: 400 is for the padding field
		{"default limit, above", 0, 1<<20 + 1, http.StatusRequestEntityTooLarge},
		{"configured limit, above", 200, 201, http.StatusRequestEntityTooLarge},
		{"configured limit, at", 200, 200, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, func(c *apiConfig) { c.MaxBody = tt.maxBody })
			body := padded(t, tt.size, tt.want == http.StatusCreated)
			r := ts.post(t, "/event", body)
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %.200s", r.Status, tt.want, r.Body)
			}
		})
	}
}

// padded returns an event body of exactly size bytes: with white space when
// valid, else with a long unknown field.
func padded(t testing.TB, size int, valid bool) string {
	t.Helper()
	base := event(nil)
	if valid {
		if len(base) > size {
			t.Fatalf("base event is %d bytes, more than %d", len(base), size)
		}
		return base + strings.Repeat(" ", size-len(base))
	}
	prefix := base[:len(base)-1] + `,"pad":"`
	n := size - len(prefix) - 2
	return prefix + strings.Repeat("x", n) + `"}`
}

func TestCreateEventContentType(t *testing.T) {
	tests := []struct {
		contentType string
		want        int
	}{
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"application/vnd.tally+json", http.StatusCreated},
		// Absent: refused, or a cross-site page could post events with a
		// body of no type, which browsers send without a preflight.
		{"", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"application/xml", http.StatusUnsupportedMediaType},
		{"application/x-ndjson", http.StatusUnsupportedMediaType},
		{"not a media type", http.StatusUnsupportedMediaType},
	}
	ts := newServer(t)
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			r := ts.do(t, http.MethodPost, "/event", map[string]string{"Content-Type": tt.contentType}, event(nil))
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
			}
			if tt.want != http.StatusCreated {
				r.errorMessage(t)
			}
		})
	}
}

func TestGetDeleteEvent(t *testing.T) {
	ts := newServer(t)
	created := ts.post(t, "/event", event(nil))
	id := decode(t, created.Body)["id"].(string)
	missing := "00000000-0000-4000-8000-0000000000ff"
	tests := []struct {
		method, path string
		want         int
		field        string // for 400s
	}{
		{http.MethodGet, "/event/" + id, http.StatusOK, ""},
		{http.MethodGet, "/event/" + strings.ToUpper(id), http.StatusOK, ""},
		{http.MethodGet, "/event/" + missing, http.StatusNotFound, ""},
		{http.MethodGet, "/event/not-a-uuid", http.StatusBadRequest, "event_id"},
		{http.MethodGet, "/event/3f2c1a9e5b7d4c8e9f0123456789abcd", http.StatusBadRequest, "event_id"},
		{http.MethodDelete, "/event/not-a-uuid", http.StatusBadRequest, "event_id"},
		{http.MethodDelete, "/event/" + missing, http.StatusNotFound, ""},
		{http.MethodDelete, "/event/" + strings.ToUpper(id), http.StatusNoContent, ""},
		{http.MethodGet, "/event/" + id, http.StatusNotFound, ""},
		{http.MethodDelete, "/event/" + id, http.StatusNotFound, ""},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d %s %s", i, tt.method, tt.path), func(t *testing.T) {
			r := ts.do(t, tt.method, tt.path, nil, "")
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
			}
			switch {
			case tt.want == http.StatusNoContent && len(r.Body) != 0:
				t.Errorf("204 with a body: %q", r.Body)
			case tt.want >= 400:
				if msg := r.errorMessage(t); tt.field != "" && !strings.HasPrefix(msg, tt.field+": ") {
					t.Errorf("message %q does not name %s", msg, tt.field)
				}
			}
		})
	}
	// A deleted event no longer counts.
	if r := ts.get(t, "/report"); !strings.Contains(string(r.Body), `"total_count":0`) {
		t.Errorf("report after delete: %s", r.Body)
	}
}
