package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/sqlite"
)

// TestLostReportNotLoggedAsOK: a report whose answer never reaches the
// client (it outlived the server's write timeout, or the client left) is
// logged and counted as lost (499), not as the 200 it started as.
func TestLostReportNotLoggedAsOK(t *testing.T) {
	const (
		writeTimeout = 100 * time.Millisecond
		guard        = 30 * time.Second // failure guard only
		rawJSON      = "/report?granularity=hour&tz=Europe/Berlin"
	)
	for _, tc := range []struct {
		name         string
		path         string
		writeTimeout time.Duration
	}{
		{"JSON past the write timeout", rawJSON, writeTimeout},
		{"CSV past the write timeout", rawJSON + "&format=csv", writeTimeout},
		{"client gone", rawJSON, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{SubDayCells: -1, // raw scans, which the hooks hold
				Synchronous: "normal",
				Scans: tally.ScanLimits{Started: func(ctx context.Context) {
					started <- struct{}{}
					if tc.writeTimeout > 0 {
						// The server set the write deadline when it read the
						// request, before the scan started: it has passed
						// once this returns.
						time.Sleep(2 * tc.writeTimeout)
						return
					}
					select {
					case <-ctx.Done():
					case <-time.After(guard):
					}
				}},
			})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { _ = store.Close() })
			var evs []tally.Event
			for i := range 200 {
				evs = append(evs, tally.Event{ID: tally.NewID(), Client: int32(i), ClientGroup: 1, Valid: true, Value: tally.DecimalFromInt(1),
					Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)})
			}
			if _, err := store.CreateEvents(context.Background(), evs); err != nil {
				t.Fatalf("CreateEvents: %v", err)
			}
			logs := &syncBuffer{}
			h, err := api.NewHandler(api.Config{Store: store, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(h)
			srv.Config.WriteTimeout = tc.writeTimeout
			srv.Start()
			t.Cleanup(srv.Close)

			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			answered := make(chan error, 1)
			go func() {
				res, err := http.DefaultClient.Do(req)
				if err == nil {
					_, err = io.ReadAll(res.Body)
					res.Body.Close()
				}
				answered <- err
			}()
			select {
			case <-started:
			case <-time.After(guard):
				t.Fatal("the report never started its scan")
			}
			if tc.writeTimeout == 0 {
				cancel()
			}
			if err := <-answered; err == nil {
				t.Error("the client got a whole answer; want none")
			}

			line := waitForRequestLog(t, logs, guard)
			if line.Status != 499 || line.Lost == "" || line.Level != "WARN" {
				t.Errorf("access log: %+v; want a WARN line with status 499 and why it was lost", line)
			}
			if strings.Contains(logs.String(), `"internal error"`) {
				t.Errorf("a request stopped by its client is logged as an internal error:\n%s", logs.String())
			}
		})
	}
}

type accessLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Lost   string `json:"lost"`
}

// waitForRequestLog returns the access log line of GET /report, written
// once the handler has returned, which may be after the client gave up.
func waitForRequestLog(t *testing.T, logs *syncBuffer, guard time.Duration) accessLine {
	t.Helper()
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var l accessLine
			if err := json.Unmarshal(sc.Bytes(), &l); err == nil && l.Msg == "request" && l.Path == "/report" {
				return l
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no access log line for /report; logs:\n%s", logs.String())
	return accessLine{}
}

// TestScanRefusalsMatchDocument: the answers of the scan limits are the
// ones openapi.yaml lists for /report (ts.get checks every answer).
func TestScanRefusalsMatchDocument(t *testing.T) {
	const raw = "/report?granularity=hour"
	started, release := make(chan struct{}, 1), make(chan struct{})
	held, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "held.db"), sqlite.Options{SubDayCells: -1, // raw scans, which the hooks hold
		Scans: tally.ScanLimits{Max: 1, Started: func(ctx context.Context) {
			select {
			case started <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	ts := newServerOn(t, held)
	ts.Client().Timeout = 30 * time.Second // failure guard only
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := ts.Client().Get(ts.URL + raw)
		if err == nil {
			res.Body.Close()
		}
	}()
	<-started
	if r := ts.get(t, raw); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("second raw scan: %d, Retry-After %q; want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	close(release)
	<-done

	slow, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "slow.db"), sqlite.Options{SubDayCells: -1, // raw scans, which the hooks hold
		Scans: tally.ScanLimits{Timeout: time.Millisecond, Started: func(ctx context.Context) { <-ctx.Done() }},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slow.Close() })
	if r := newServerOn(t, slow).get(t, raw); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("raw scan past its deadline: %d %s, want 422", r.Status, r.Body)
	}
}
