package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
)

// DELETE /events: refused without a filter, counts with dry_run without
// deleting, deletes exactly the events of the filter, and leaves reports
// exact.
func TestDeleteEventsByFilter(t *testing.T) {
	ts := newServer(t)
	body := `[
	  {"client":1,"client_group":1,"timestamp":"2026-05-08T10:00:00Z","valid":true,"value":0.01},
	  {"client":1,"client_group":1,"timestamp":"2026-05-09T10:00:00Z","valid":true,"value":1e15},
	  {"client":2,"client_group":1,"timestamp":"2026-05-08T23:30:00Z","valid":false,"value":0.2},
	  {"client":2,"client_group":2,"timestamp":"2026-05-10T10:00:00Z","valid":true,"value":0.1}]`
	if r := ts.post(t, "/events", body); r.Status != http.StatusOK {
		t.Fatalf("POST /events: %d %s", r.Status, r.Body)
	}
	del := func(query string) *response {
		t.Helper()
		return ts.do(t, http.MethodDelete, "/events"+query, nil, "")
	}
	for _, bad := range []string{"", "?dry_run=true", "?all=false", "?date_range=all", "?date_range=7d&start_date=2026-05-01", "?clients=x", "?group_by=client&clients=1", "?tz=Mars/Olympus&clients=1", "?all=1", "?all=yes", "?clients=1&dry_run=TRUE"} {
		if r := del(bad); r.Status != http.StatusBadRequest {
			t.Errorf("DELETE /events%s: %d %s, want 400", bad, r.Status, r.Body)
		}
	}
	// 2026-05-09 in Berlin starts at 2026-05-08T22:00Z: it holds the
	// 23:30Z event of client 2 and the 10:00Z event of client 1.
	const berlinDay = "?start_date=2026-05-09&end_date=2026-05-10&tz=Europe/Berlin"
	if r := del(berlinDay + "&dry_run=true"); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"matched":2}` {
		t.Fatalf("dry run: %d %s", r.Status, r.Body)
	}
	if r := ts.get(t, "/report?group_by=valid"); !strings.Contains(string(r.Body), `"totals":{"count":4,`) {
		t.Fatalf("a dry run deleted: %s", r.Body)
	}
	if r := del(berlinDay); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"deleted":2}` {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	r := ts.get(t, "/report?group_by=client")
	want := `"rows":[{"client":1,"count":1,"sum":0.01,"mean":0.01},{"client":2,"count":1,"sum":0.1,"mean":0.1}]`
	if !strings.Contains(string(r.Body), want) {
		t.Errorf("report after the delete: %s\nwant rows %s", r.Body, want)
	}
	if r := del("?all=true"); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"deleted":2}` {
		t.Fatalf("delete all: %d %s", r.Status, r.Body)
	}
	if r := ts.get(t, "/report"); !strings.Contains(string(r.Body), `"totals":{"count":0,`) {
		t.Errorf("report after deleting all: %s", r.Body)
	}
}

// slowDeletes is a real store whose deletions by filter take a while, as
// millions of events do.
type slowDeletes struct {
	tally.Store
	d time.Duration
}

func (s slowDeletes) DeleteEvents(ctx context.Context, f tally.Filter) (int64, error) {
	time.Sleep(s.d)
	return s.Store.DeleteEvents(ctx, f)
}

// A deletion that outlasts the server's write timeout still answers.
func TestDeleteEventsOutlastsWriteTimeout(t *testing.T) {
	h, err := api.NewHandler(api.Config{Store: slowDeletes{openStore(t), 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, err := http.NewRequest(http.MethodDelete, srv.URL+"/events?clients=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("DELETE /events past the write timeout: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"deleted":0}` {
		t.Errorf("DELETE /events: %d %s", res.StatusCode, body)
	}
}
