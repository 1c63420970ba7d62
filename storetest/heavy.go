package storetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
)

// Reports that cannot be answered from UTC day rollups (hour buckets, a zone
// other than UTC), over the widest range, in CSV: the heavy reports of
// issue 10.
const (
	rawReport  = "/report?granularity=hour&tz=Europe/Berlin&start_date=0001-01-01&end_date=9999-12-31&format=csv"
	cubeReport = "/report?group_by=client&start_date=2026-01-01&end_date=2026-02-01"
)

// guard bounds every wait of RunHeavyReports: it only turns a hang into a
// failure, and is never reached when the store behaves.
const guard = 30 * time.Second

// RunHeavyReports checks, through the HTTP API, that reports over raw events
// stay within the store's tally.ScanLimits: past the cap they are refused
// with 503 and Retry-After while the health check, event reads and rollup
// reports still answer, and past the deadline they are refused with a
// message saying how to narrow them. open returns a fresh, empty store with
// the given limits, closed when t ends.
func RunHeavyReports(t *testing.T, open func(t *testing.T, l tally.ScanLimits) tally.Store) {
	t.Run("Cap", func(t *testing.T) {
		started, release := make(chan struct{}, 1), make(chan struct{})
		store := open(t, tally.ScanLimits{Max: 1, Timeout: 10 * guard, Started: func(ctx context.Context) {
			select { // only the first scan is awaited; a store without a cap would start more
			case started <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}})
		ids := seed(t, store, 50)
		srv := serve(t, store)

		held := make(chan *heavyAnswer, 1)
		go func() { held <- srv.get(rawReport) }()
		select {
		case <-started:
		case a := <-held:
			t.Fatalf("held report answered %d %s without being held", a.status, a.body)
		case <-time.After(guard):
			t.Fatal("the raw-scan report never started its scan")
		}

		for _, tc := range []struct {
			name, path string
			want       int
		}{
			{"readyz", "/readyz", http.StatusOK},
			{"get event", "/event/" + ids[0].String(), http.StatusOK},
			{"rollup report", cubeReport, http.StatusOK},
			{"second raw-scan report", rawReport, http.StatusServiceUnavailable},
			{"raw-scan report in JSON", "/report?granularity=hour&start_date=2026-01-01&end_date=2026-02-01", http.StatusServiceUnavailable},
		} {
			a := srv.get(tc.path)
			if a.status != tc.want {
				t.Errorf("%s: GET %s = %d %s, want %d", tc.name, tc.path, a.status, a.body, tc.want)
				continue
			}
			if tc.want == http.StatusServiceUnavailable {
				if a.header.Get("Retry-After") == "" {
					t.Errorf("%s: 503 without Retry-After", tc.name)
				}
				if msg := a.message(t); !strings.Contains(msg, "retry later") {
					t.Errorf("%s: message %q does not say to retry", tc.name, msg)
				}
			}
		}

		close(release)
		if a := <-held; a.status != http.StatusOK {
			t.Errorf("held report: %d %s, want 200", a.status, a.body)
		}
		if a := srv.get(rawReport); a.status != http.StatusOK {
			t.Errorf("raw-scan report after the first finished: %d %s, want 200", a.status, a.body)
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		// Every scan waits for its deadline before it reads: the store then
		// meets an expired context whatever its speed.
		store := open(t, tally.ScanLimits{Max: 1, Timeout: time.Millisecond, Started: func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-time.After(guard):
			}
		}})
		seed(t, store, 500)
		srv := serve(t, store)
		for _, path := range []string{rawReport, "/report?granularity=hour&tz=Asia/Kolkata"} {
			a := srv.get(path)
			if a.status != http.StatusUnprocessableEntity {
				t.Errorf("GET %s = %d %s, want 422", path, a.status, a.body)
				continue
			}
			msg := a.message(t)
			for _, hint := range []string{"shorter date range", "UTC day buckets", "fewer group_by dimensions"} {
				if !strings.Contains(msg, hint) {
					t.Errorf("GET %s: message %q does not suggest a %s", path, msg, hint)
				}
			}
		}
		// The limit is on raw scans only.
		if a := srv.get(cubeReport); a.status != http.StatusOK {
			t.Errorf("rollup report: %d %s, want 200", a.status, a.body)
		}
	})
}

// seed stores n events in January 2026 and returns their ids.
func seed(t *testing.T, s tally.Store, n int) []tally.ID {
	t.Helper()
	evs := make([]tally.Event, n)
	ids := make([]tally.ID, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		ids[i] = tally.NewID()
		evs[i] = tally.Event{ID: ids[i], DeviceType: tally.DeviceType(i % 4), Category: tally.CategoryOf(int32(i % 7)),
			Client: int32(i % 13), ClientGroup: int32(i % 3), Timestamp: t0.Add(time.Duration(i) * 17 * time.Minute),
			Valid: i%5 != 0, Value: tally.DecimalFromMicros(int64(i%400) * 250_000)}
	}
	for len(evs) > 0 {
		batch := evs[:min(len(evs), 1000)]
		if _, err := s.CreateEvents(context.Background(), batch); err != nil {
			t.Fatalf("CreateEvents: %v", err)
		}
		evs = evs[len(batch):]
	}
	return ids
}

type heavyServer struct {
	t   *testing.T
	url string
	c   *http.Client
}

func serve(t *testing.T, s tally.Store) *heavyServer {
	t.Helper()
	h, err := api.NewHandler(api.Config{Store: s})
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &heavyServer{t: t, url: srv.URL, c: &http.Client{Timeout: guard}}
}

type heavyAnswer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// get may run on another goroutine: it reports failures in the answer.
func (s *heavyServer) get(path string) *heavyAnswer {
	res, err := s.c.Get(s.url + path)
	if err != nil {
		return &heavyAnswer{err: err, body: []byte(err.Error())}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return &heavyAnswer{status: res.StatusCode, header: res.Header, body: b, err: err}
}

func (a *heavyAnswer) message(t *testing.T) string {
	t.Helper()
	var body struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || body.Message == "" {
		t.Errorf("error body %q is not {\"message\": ...}: %v", a.body, err)
	}
	return body.Message
}
