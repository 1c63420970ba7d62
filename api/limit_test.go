package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tallyhq/tally"
)

// gateStore is the real store whose CreateEvent waits for the test: it
// holds a request in flight for as long as the test needs, without timing.
type gateStore struct {
	tally.Store
	entered chan struct{}
	release chan struct{}
}

func newGateStore(t testing.TB) *gateStore {
	return &gateStore{Store: openStore(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *gateStore) CreateEvent(ctx context.Context, e tally.Event) error {
	g.entered <- struct{}{}
	<-g.release
	return g.Store.CreateEvent(ctx, e)
}

// holdOne sends a POST /event that stays in the store until release is
// closed, and returns once it is there.
func holdOne(t *testing.T, ts *testServer, g *gateStore, body string) (done func()) {
	t.Helper()
	var wg sync.WaitGroup
	var status int
	wg.Go(func() {
		res, err := ts.Client().Post(ts.URL+"/event", "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		res.Body.Close()
		status = res.StatusCode
	})
	<-g.entered
	return func() {
		close(g.release)
		wg.Wait()
		if status != http.StatusCreated {
			t.Errorf("the held request: %d, want 201", status)
		}
	}
}

func checkBusy(t *testing.T, r *response) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", r.Status, r.Body)
	}
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if msg := r.errorMessage(t); !strings.Contains(msg, "busy") {
		t.Errorf("message %q", msg)
	}
}

func TestMaxInFlight(t *testing.T) {
	g := newGateStore(t)
	ts := newServerOn(t, g, func(c *apiConfig) { c.MaxInFlight = 1 })
	done := holdOne(t, ts, g, event(nil))
	checkBusy(t, ts.post(t, "/event", event(nil)))
	checkBusy(t, ts.get(t, "/report"))
	checkBusy(t, ts.get(t, "/metrics"))
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := ts.get(t, p); r.Status != http.StatusOK {
			t.Errorf("%s while busy: %d", p, r.Status)
		}
	}
	done()
	if r := ts.get(t, "/report"); r.Status != http.StatusOK {
		t.Errorf("after the held request: %d %s", r.Status, r.Body)
	}
	body := ts.get(t, "/metrics").Body
	if !strings.Contains(string(body), `tally_http_requests_total{method="POST",route="/event",status="503"} 1`) {
		t.Errorf("the 503 is not counted under its route:\n%s", body)
	}
}

func TestMaxInFlightBytes(t *testing.T) {
	const limit = 1000
	g := newGateStore(t)
	ts := newServerOn(t, g, func(c *apiConfig) { c.MaxInFlightBytes, c.MaxBody, c.MaxBatchBytes = limit, limit, limit })
	half := event(nil) + strings.Repeat(" ", limit/2+50-len(event(nil)))
	done := holdOne(t, ts, g, half)
	// Counted as the bytes arrive, not as declared: refused once they
	// pass the budget.
	checkBusy(t, ts.post(t, "/event", half))
	// Received: a chunked body is counted as it comes.
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/events", io.MultiReader(strings.NewReader("["+event(nil)), strings.NewReader(strings.Repeat(" ", limit))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("Content-Type", "application/json")
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r := &response{Status: res.StatusCode, Header: res.Header, Body: b}
	checkResponse(t, req, r)
	checkBusy(t, r)
	// Requests without a body still pass.
	if r := ts.get(t, "/report"); r.Status != http.StatusOK {
		t.Errorf("GET while bytes are held: %d", r.Status)
	}
	done()
	if r := ts.post(t, "/event", half); r.Status != http.StatusCreated {
		t.Errorf("after the held request: %d %s", r.Status, r.Body)
	}
}
