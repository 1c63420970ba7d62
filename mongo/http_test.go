package mongo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
)

// TestHTTPConcurrentClients: many HTTP clients posting events at once
// through one Tally handler on the MongoDB store give an exact report.
func TestHTTPConcurrentClients(t *testing.T) {
	h, err := api.NewHandler(api.Config{Store: newStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const clients, each = 12, 15
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				// Two cells only, so that every client updates the same ones.
				body := fmt.Sprintf(`{"client": %d, "client_group": 1, "timestamp": %q, "valid": true, "value": %d}`,
					i%2, day0.Add(time.Duration(c)*time.Minute).Format(time.RFC3339), i)
				resp, err := http.Post(srv.URL+"/event", "application/json", bytes.NewBufferString(body))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("POST /event: status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/report?group_by=client", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Rows []map[string]float64 `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	// Client 0 gets values 0,2,…,14 from every client; client 1 gets 1,3,…,13.
	want := []map[string]float64{
		{"client": 0, "count": 8 * clients, "sum": 56 * clients, "mean": 7},
		{"client": 1, "count": 7 * clients, "sum": 49 * clients, "mean": 7},
	}
	if diff := cmp.Diff(want, got.Rows); diff != "" {
		t.Errorf("report rows (-want +got):\n%s", diff)
	}
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
