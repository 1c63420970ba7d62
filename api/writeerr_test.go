package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tallyhq/tally"
)

// failingWrites is the real store whose writes fail with err: a MongoDB
// outage, where the write may or may not have happened.
type failingWrites struct {
	tally.Store
	err error
}

func (s *failingWrites) CreateEvent(context.Context, tally.Event) error { return s.err }

func (s *failingWrites) CreateEvents(context.Context, []tally.Event) ([]bool, error) {
	return nil, s.err
}

func (s *failingWrites) DeleteEvent(context.Context, tally.ID) error { return s.err }

// TestWriteOutcomeUnknown checks that a write answered 503 or 500 tells the
// client that resending it with the same ids is safe.
func TestWriteOutcomeUnknown(t *testing.T) {
	const id = "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"unavailable", tally.Errorf(tally.EUnavailable, "store unreachable"), http.StatusServiceUnavailable},
		{"internal", tally.Errorf(tally.EInternal, "write concern timed out"), http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServerOn(t, &failingWrites{Store: openStore(t), err: tt.err})
			for _, rq := range []struct{ method, path, body, msg string }{
				{http.MethodPost, "/event", event(map[string]any{"id": id}), "resending it with the same id is safe"},
				{http.MethodPost, "/events", "[" + event(map[string]any{"id": id}) + "]", "resending it with the same ids is safe"},
				{http.MethodDelete, "/event/" + id, "", "resending it is safe"},
			} {
				r := ts.do(t, rq.method, rq.path, nil, rq.body)
				if r.Status != tt.want {
					t.Fatalf("%s %s: status %d, want %d: %s", rq.method, rq.path, r.Status, tt.want, r.Body)
				}
				if msg := r.errorMessage(t); !strings.Contains(msg, rq.msg) {
					t.Errorf("%s %s: message %q does not contain %q", rq.method, rq.path, msg, rq.msg)
				}
			}
			// A read that fails says nothing of resending.
			if r := ts.get(t, "/report"); strings.Contains(string(r.Body), "resend") {
				t.Errorf("GET /report: %s", r.Body)
			}
		})
	}
}
