package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestNewcomerMessages: the mistakes a newcomer makes first get a message
// that names the fix, not only the rule.
func TestNewcomerMessages(t *testing.T) {
	tests := []struct {
		name, path string
		header     map[string]string
		body       string
		want       []string // parts of the message
	}{
		{
			name: "timestamp without offset", path: "/event",
			body: event(map[string]any{"timestamp": "2026-11-02T13:45:10"}),
			want: []string{"timestamp:", "offset", "Z", "±hh:mm", "missing"},
		},
		{
			name: "timestamp with a fraction and no offset", path: "/event",
			body: event(map[string]any{"timestamp": "2026-11-02T13:45:10.5"}),
			want: []string{"timestamp:", "offset", "missing"},
		},
		{
			name: "value as a string", path: "/event",
			body: event(map[string]any{"value": "47.5"}),
			want: []string{"value:", "JSON number", "not a string"},
		},
		{
			name: "client as a string", path: "/event",
			body: event(map[string]any{"client": "412"}),
			want: []string{"client:", "JSON number", "not a string"},
		},
		{
			name: "value as a string in a batch", path: "/events",
			body: "[" + event(map[string]any{"value": "47.5"}) + "]",
			want: []string{"value:", "JSON number", "not a string"},
		},
		{
			name: "gzip without Content-Encoding, bulk", path: "/events",
			body: gzipped(t, "["+event(nil)+"]"),
			want: []string{"gzip", "Content-Encoding: gzip"},
		},
		{
			name: "gzip without Content-Encoding, NDJSON", path: "/events",
			header: map[string]string{"Content-Type": "application/x-ndjson"},
			body:   gzipped(t, event(nil)+"\n"),
			want:   []string{"gzip", "Content-Encoding: gzip"},
		},
		{
			name: "gzip on /event", path: "/event",
			body: gzipped(t, event(nil)),
			want: []string{"gzip", "uncompressed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t)
			r := ts.do(t, http.MethodPost, tt.path, tt.header, tt.body)
			msg := string(r.Body)
			if r.Status == http.StatusBadRequest {
				msg = r.errorMessage(t)
			} else if r.Status != http.StatusOK {
				t.Fatalf("status %d, want 400 (or 200 with the event rejected): %s", r.Status, r.Body)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
}
