package mongo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/api/apitest"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
)

// TestHTTPConformance runs the HTTP scenarios every store must pass, many
// clients posting at once to one handler among them, on the MongoDB store.
func TestHTTPConformance(t *testing.T) {
	apitest.Run(t, func(t *testing.T) string {
		h, err := api.NewHandler(api.Config{Store: newStore(t)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	})
}

// TestUnknownOutcome: a write the database does not confirm within the
// store's timeout answers 503, and the message says that resending with
// the same ids is safe.
func TestUnknownOutcome(t *testing.T) {
	s, err := mongo.OpenOptions(context.Background(), mongotest.URI(t), mongo.Options{Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h, err := api.NewHandler(api.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ path, body, want string }{
		{"/event", `{"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "client": 1, "client_group": 1, "timestamp": "2026-11-02T10:00:00Z", "valid": true, "value": 1}`,
			"resending it with the same id is safe"},
		{"/events", `[{"id": "0f8fad5b-d9cb-469f-a165-70867728950f", "client": 1, "client_group": 1, "timestamp": "2026-11-02T10:00:00Z", "valid": true, "value": 1}]`,
			"resending it with the same ids is safe"},
	} {
		resp, err := http.Post(srv.URL+tc.path, "application/json", bytes.NewBufferString(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.Message, tc.want) {
			t.Errorf("POST %s: %d %q, want 503 saying %q", tc.path, resp.StatusCode, body.Message, tc.want)
		}
	}
}
