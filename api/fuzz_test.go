package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally/api"
)

// fuzzHandler is the real handler on a real temp SQLite store, with an API
// key so that the key checks are fuzzed too, and a log that the fuzz
// targets read for panics.
func fuzzHandler(f *testing.F) (http.Handler, *syncBuffer) {
	f.Helper()
	logs := &syncBuffer{}
	h, err := api.NewHandler(api.Config{
		Store:          openStore(f),
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		Registry:       prometheus.NewRegistry(),
		APIKeys:        []string{"fuzz-key"},
		MaxBatchEvents: 50,
		MaxBatchBytes:  64 << 10,
	})
	if err != nil {
		f.Fatal(err)
	}
	// A few events, so that reports have rows to group, filter and page.
	for i, body := range []string{
		event(nil),
		event(map[string]any{"device_type": null, "category": null, "client": 7, "valid": false}),
		event(map[string]any{"timestamp": "2026-03-29T01:30:00+01:00", "device_type": "tablet", "value": -3}),
	} {
		req := httptest.NewRequest(http.MethodPost, "/event", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer fuzz-key")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			f.Fatalf("seed event %d: %d %s", i, w.Code, w.Body)
		}
	}
	return h, logs
}

// checkAnswer holds the fuzz invariants: no panic, no 5xx for anything a
// client sends, and every 4xx is the contract's error JSON.
func checkAnswer(t *testing.T, req *http.Request, w *httptest.ResponseRecorder, logs *syncBuffer) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s %q: %d %s\nlogs: %s", req.Method, req.URL, w.Code, w.Body, logs.String())
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("%s %q: an error was logged: %s", req.Method, req.URL, logs.String())
	}
	if w.Code >= 400 {
		var body struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Message == "" {
			t.Fatalf("%s %q: %d without a JSON message: %q", req.Method, req.URL, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("%s %q: %d with Content-Type %q", req.Method, req.URL, w.Code, ct)
		}
	}
}

// FuzzReportQuery fuzzes GET /report's query string: the parameters'
// syntax, the three list syntaxes, the rules between parameters and the
// report itself.
func FuzzReportQuery(f *testing.F) {
	for _, q := range []string{
		"", "group_by=date+client&order_by=-date", "group_by=client,valid&order_by=count,-sum",
		"clients=1&clients=2,3+4", "categories=null+7", "device_types=null,tablet",
		"start_date=2026-11-01&end_date=2026-12-01", "granularity=hour&tz=Europe/Paris",
		"granularity=week&tz=Asia/Kathmandu&group_by=date", "limit=10000&offset=2147483647",
		"format=csv", "format=csv&limit=1", "valid=true", "limit=0", "limit=abc", "offset=-1",
		"group_by=date&group_by=date", "order_by=client", "tz=Local", "tz=../../etc/passwd",
		"start_date=2026-12-01&end_date=2026-11-01", "%zz", "a=%00", "clients=2147483648",
		"categories=1e3", "group_by=", "limit=1&limit=2", "x=1",
	} {
		f.Add(q)
	}
	h, logs := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, "/report", nil)
		req.URL.RawQuery = rawQuery
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		checkAnswer(t, req, w, logs)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("%q: %d %s", rawQuery, w.Code, w.Body)
		}
	})
}

// fuzzMethods are the methods a fuzzed request picks from by its first
// byte: every route's, the others net/http knows, and invented ones.
var fuzzMethods = []string{
	http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch,
	http.MethodHead, http.MethodOptions, "TRACE", "CONNECT", "PROPFIND", "get",
}

// FuzzHandler fuzzes the whole handler: method, path, query, headers and
// body. headers is "Name: value" lines.
func FuzzHandler(f *testing.F) {
	type seed struct {
		method      byte
		path, query string
		headers     string
		body        string
	}
	auth := "Authorization: Bearer fuzz-key\n"
	for _, s := range []seed{
		{0, "/report", "group_by=client", "Accept: text/csv", ""},
		{1, "/event", "", auth + "Content-Type: application/json", event(nil)},
		{1, "/event", "", auth, event(map[string]any{"id": "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"})},
		{1, "/events", "", auth + "Content-Type: application/x-ndjson", event(nil) + "\n" + event(nil)},
		{1, "/events", "", auth + "Content-Encoding: gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00"},
		{1, "/event", "", "Authorization: Bearer wrong", event(nil)},
		{1, "/event", "", "Authorization: Basic Zm9vOmJhcg==", event(nil)},
		{2, "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd", "", auth, ""},
		{0, "/event/3F2C1A9E-5B7D-4C8E-9F01-23456789ABCD", "", "", ""},
		{0, "/event/..%2F..%2Fetc%2Fpasswd", "", "", ""},
		{0, "/healthz", "", "Accept: application/xml", ""},
		{0, "/openapi.yaml", "", "Accept: text/yaml", ""},
		{0, "/ui", "", "", ""},
		{0, "/metrics", "", "", ""},
		{3, "/report", "", "", ""},
		{9, "/event", "", "", "{}"},
		{0, "/%00", "a=%00", "X-Request-ID: \x00", ""},
		{1, "/event", "", auth + "Content-Type: text/plain", "x"},
		{1, "/events", "", auth, "[" + strings.Repeat("[", 100) + "]"},
	} {
		f.Add(s.method, s.path, s.query, s.headers, []byte(s.body))
	}
	h, logs := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, method byte, path, query, headers string, body []byte) {
		req := &http.Request{
			Method:     fuzzMethods[int(method)%len(fuzzMethods)],
			URL:        &url.URL{Path: "/" + strings.TrimPrefix(path, "/"), RawQuery: query},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
			Host:       "tally.test",
			RemoteAddr: "192.0.2.1:1234",
		}
		req.RequestURI = req.URL.RequestURI()
		for line := range strings.SplitSeq(headers, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if ok && name != "" && !strings.ContainsAny(name, " \t\r:") {
				req.Header.Add(name, strings.TrimSpace(value))
			}
		}
		req.Header.Del("Content-Length") // the body's own length, as net/http would
		req.ContentLength = int64(len(body))
		req.Body = http.NoBody
		if len(body) > 0 {
			req.Body = nopCloser{bytes.NewReader(body)}
		}
		req = req.WithContext(t.Context())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		checkAnswer(t, req, w, logs)
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
