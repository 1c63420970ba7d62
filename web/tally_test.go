package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/tools/gen"
	"github.com/tallyhq/tally/web"
)

// startTally serves the real API and the dashboard, wired by web.WithDashboard,
// on a temporary SQLite store holding 40 days of events from gen (the last
// one today), and returns the server's URL.
func startTally(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	g, err := gen.New(gen.Config{Days: 40, PerDay: 40, Seed: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var events []tally.Event
	for e := (tally.Event{}); g.Next(&e); {
		events = append(events, e)
	}
	if _, err := store.CreateEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	apiHandler, err := api.NewHandler(api.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.WithDashboard(apiHandler))
	t.Cleanup(srv.Close)

	// gen's days end before today; today's events come in through the API.
	g, err = gen.New(gen.Config{Days: 1, PerDay: 12, Seed: 2, Now: now.AddDate(0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for e := (tally.Event{}); g.Next(&e); {
		res, err := http.Post(srv.URL+"/event", "application/json", bytes.NewReader(e.AppendJSON(nil)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST /event = %d", res.StatusCode)
		}
	}
	return srv.URL
}
