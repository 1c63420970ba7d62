package api_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/sqlite"
)

func TestIngestMetrics(t *testing.T) {
	ts := newServer(t)
	const id = "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"
	ts.post(t, "/event", event(map[string]any{"id": id}))      // accepted
	ts.post(t, "/event", event(map[string]any{"id": id}))      // duplicate
	ts.post(t, "/event", event(map[string]any{"client": "x"})) // rejected
	ts.post(t, "/event", `{"client":`)                         // rejected: malformed
	ts.post(t, "/events", "["+strings.Join([]string{
		event(nil), event(nil), event(map[string]any{"id": id}), event(map[string]any{"value": nil}),
	}, ",")+"]") // 2 accepted, 1 duplicate, 1 rejected
	ts.post(t, "/events", "[") // malformed batch: no event counted
	body := string(ts.get(t, "/metrics").Body)
	for _, want := range []string{
		`tally_events_ingested_total{outcome="accepted"} 3`,
		`tally_events_ingested_total{outcome="duplicate"} 2`,
		`tally_events_ingested_total{outcome="rejected"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestStoreCallMetrics wires InstrumentStore as cmd/tally does, over the
// SQLite store: every call is timed by method and outcome.
func TestStoreCallMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	timed, err := api.InstrumentStore(store, reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := newServerOn(t, timed, func(c *apiConfig) { c.Registry = reg })
	ts.post(t, "/event", event(nil))
	ts.post(t, "/events", "["+event(nil)+"]")
	ts.get(t, "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd")
	ts.get(t, "/report")
	ts.get(t, "/readyz")
	r := ts.get(t, "/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	body := string(r.Body)
	for _, want := range []string{
		`tally_store_call_duration_seconds_count{code="ok",method="CreateEvent"} 1`,
		`tally_store_call_duration_seconds_count{code="ok",method="CreateEvents"} 1`,
		`tally_store_call_duration_seconds_count{code="not_found",method="Event"} 1`,
		`tally_store_call_duration_seconds_count{code="ok",method="Report"} 1`,
		`tally_store_call_duration_seconds_count{code="ok",method="Ping"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if _, err := api.InstrumentStore(store, reg); err == nil {
		t.Error("registering the store call metrics twice on one registry succeeded")
	}
}
