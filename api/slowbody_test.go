package api_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// answerWithin bounds how long the requests that must still be served
// during an attack may take: a client timeout, generous, not a measure of
// speed.
const answerWithin = time.Second

// stallBody opens a connection that sends the headers of a POST declaring
// a body of declared bytes, then sent bytes of it, then nothing, and keeps
// it open until the test ends. With Expect: 100-continue the server says
// when the handler starts reading the body, so the function returns once
// the request is past the middleware's limits, with no sleeping. A request
// answered at once instead is an error of the test.
func stallBody(t *testing.T, ts *testServer, path string, declared int, sent string) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // only so that a broken server cannot hang the test
	head := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n" +
		"Content-Length: " + strconv.Itoa(declared) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("stalled request: %v", err)
	}
	if res.StatusCode != http.StatusContinue {
		b, _ := io.ReadAll(res.Body)
		t.Errorf("stalled request answered at once: %d %s", res.StatusCode, b)
		return
	}
	if _, err := io.WriteString(conn, sent); err != nil {
		t.Fatal(err)
	}
}

// within sends a request that must be answered before answerWithin.
func (ts *testServer) within(t *testing.T, method, path, body string) *response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s during the attack: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{Status: res.StatusCode, Header: res.Header, Body: b}
	checkResponse(t, req, r)
	return r
}

// TestStalledBodies reproduces the two attacks of bodies that never arrive:
// declared lengths that fill the in-flight byte budget, and more stalled
// bodies than the in-flight request limit. Meanwhile a POST /event and a
// /report must be served.
func TestStalledBodies(t *testing.T) {
	const budget = 4000
	tests := []struct {
		name     string
		cfg      func(*apiConfig)
		stalled  int
		path     string
		declared int
		sent     string
	}{
		{
			name:    "declared lengths fill the byte budget",
			cfg:     func(c *apiConfig) { c.MaxInFlightBytes, c.MaxBody, c.MaxBatchBytes = budget, budget/2, budget },
			stalled: 2, path: "/event", declared: budget / 2,
		},
		{
			name:    "declared bulk lengths fill the byte budget",
			cfg:     func(c *apiConfig) { c.MaxInFlightBytes, c.MaxBody, c.MaxBatchBytes = budget, budget/4, budget },
			stalled: 1, path: "/events", declared: budget,
		},
		{
			name:    "more stalled bodies than the request limit",
			cfg:     func(c *apiConfig) { c.MaxInFlight = 2 },
			stalled: 5, path: "/event", declared: 1000, sent: "{",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, tt.cfg)
			for range tt.stalled {
				stallBody(t, ts, tt.path, tt.declared, tt.sent)
			}
			if r := ts.within(t, http.MethodPost, "/event", event(nil)); r.Status != http.StatusCreated {
				t.Errorf("POST /event during the attack: %d %s", r.Status, r.Body)
			}
			if r := ts.within(t, http.MethodGet, "/report", ""); r.Status != http.StatusOK {
				t.Errorf("GET /report during the attack: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestMinBodyRate checks that bodies below the rate floor are cut with 408
// and the error JSON once the grace has passed, whatever the route.
func TestMinBodyRate(t *testing.T) {
	ts := newServer(t, func(c *apiConfig) {
		c.MinBodyRate, c.BodyRateGrace = 1000, time.Millisecond
		c.MaxInFlight, c.MaxInFlightBytes, c.MaxBody, c.MaxBatchBytes = 1, 2000, 2000, 2000
	})
	addr := ts.Listener.Addr().String()
	valid := event(nil)
	for _, tc := range []struct{ name, raw string }{
		{"nothing sent", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"},
		{"one byte", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"},
		{"bulk, half the budget", "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 2000\r\n\r\n" + valid + "\n" + strings.Repeat(" ", 1000-len(valid))},
		{"chunked", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rawRequest(t, addr, tc.raw)
			if res == nil {
				t.Fatal("connection closed without an answer")
			}
			b, _ := io.ReadAll(res.Body)
			r := &response{Status: res.StatusCode, Header: res.Header, Body: b}
			if r.Status != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408: %s", r.Status, b)
			}
			line, _, _ := strings.Cut(tc.raw, "\r\n")
			req, err := http.NewRequest(strings.Fields(line)[0], "http://x"+strings.Fields(line)[1], nil)
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, req, r)
			if msg := r.errorMessage(t); !strings.Contains(msg, "slower than 1000 bytes/s") {
				t.Errorf("message %q", msg)
			}
		})
	}
	// The cut requests hold nothing: the one request slot is free. (No
	// POST here: with a grace of 1 ms, a loaded machine could cut it.)
	if r := ts.get(t, "/report"); r.Status != http.StatusOK {
		t.Errorf("GET /report after the cuts: %d %s", r.Status, r.Body)
	}
}
