package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tallyhq/tally"
)

// notReady is a real store whose Ping fails as a store that knows why does
// (the SQLite store on a full disk).
type notReady struct {
	tally.Store
	err error
}

func (s notReady) Ping(context.Context) error { return s.err }

// /readyz says why the store is not ready when the store says it, and
// nothing of internal errors.
func TestReadyzReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"reason", tally.Errorf(tally.EUnavailable, "disk full: last write failed at 2026-11-30T12:00:00Z"),
			"store not ready: disk full: last write failed at 2026-11-30T12:00:00Z"},
		{"internal", context.DeadlineExceeded, "store not reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServerOn(t, notReady{openStore(t), tc.err})
			r := ts.get(t, "/readyz")
			if r.Status != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", r.Status)
			}
			if msg := r.errorMessage(t); !strings.HasPrefix(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}
}
