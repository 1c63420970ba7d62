package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally/api"
)

// TestHostileRequests sends malformed and abusive requests and checks that
// each gets the right 4xx with the contract's error JSON, and that the
// store is unchanged afterwards.
func TestHostileRequests(t *testing.T) {
	const id = "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"
	valid := event(nil)
	withField := func(field, raw string) string { // valid event with field's raw JSON replaced
		m := map[string]json.RawMessage{}
		if err := json.Unmarshal([]byte(valid), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, field)
		b, _ := json.Marshal(m)
		return string(b[:len(b)-1]) + `,"` + field + `":` + raw + `}`
	}
	many := func(s string, n int, sep string) string { return strings.TrimSuffix(strings.Repeat(s+sep, n), sep) }
	bomb := gzipped(t, "["+valid+strings.Repeat(" ", 12<<20)+"]")
	ndjsonBomb := gzipped(t, valid+strings.Repeat("\n", 12<<20))
	jsonType := map[string]string{"Content-Type": "application/json"}
	type hostile struct {
		name         string
		method, path string
		header       map[string]string
		body         string
		want         int
		msg          string // the message must contain it
	}
	tests := []hostile{
		// Bodies of POST /event.
		{"nested arrays in a field", "POST", "/event", nil, withField("extra", strings.Repeat("[", 100000)), 400, "nested deeper than 64"},
		{"nested objects in a field", "POST", "/event", nil, withField("extra", many(`{"a":`, 10000, "")), 400, "nested deeper than 64"},
		{"nested arrays as the body", "POST", "/event", nil, strings.Repeat("[", 1<<19), 400, "body"},
		{"nested, closed, as a value", "POST", "/event", nil, withField("client", strings.Repeat("[", 65)+strings.Repeat("]", 65)), 400, "nested deeper"},
		{"400-digit integer", "POST", "/event", nil, withField("client", "1"+strings.Repeat("0", 400)), 400, "client: must be a 32-bit integer"},
		{"huge exponent", "POST", "/event", nil, withField("value", "1e999999999"), 400, "value: must be a number"},
		{"fraction in exponent form", "POST", "/event", nil, withField("client", "15e-1"), 400, "client: must be a 32-bit integer"},
		{"100,000-digit value", "POST", "/event", nil, withField("value", strings.Repeat("9", 100000)), 400, "value: must be a number"},
		{"NaN", "POST", "/event", nil, withField("value", "NaN"), 400, "malformed JSON"},
		{"Infinity", "POST", "/event", nil, withField("value", "Infinity"), 400, "malformed JSON"},
		{"-Infinity", "POST", "/event", nil, withField("value", "-Infinity"), 400, "malformed JSON"},
		{"hex number", "POST", "/event", nil, withField("client", "0x10"), 400, "malformed JSON"},
		{"leading zero", "POST", "/event", nil, withField("client", "012"), 400, "malformed JSON"},
		{"duplicate key", "POST", "/event", nil, valid[:len(valid)-1] + `,"client":1}`, 400, "client: given more than once"},
		{"duplicate key, escaped", "POST", "/event", nil, valid[:len(valid)-1] + `,"\u0063lient":1}`, 400, "client: given more than once"},
		{"invalid UTF-8 in a value", "POST", "/event", nil, withField("device_type", "\"mob\xffile\""), 400, "invalid UTF-8"},
		{"invalid UTF-8 in a key", "POST", "/event", nil, valid[:len(valid)-1] + ",\"\xc3\x28\":1}", 400, "invalid UTF-8"},
		{"overlong UTF-8", "POST", "/event", nil, withField("device_type", "\"\xc0\xaf\""), 400, "invalid UTF-8"},
		{"lone surrogate", "POST", "/event", nil, withField("device_type", `"\ud800"`), 400, "device_type"},
		{"raw NUL in a string", "POST", "/event", nil, withField("timestamp", "\"2026-11-02T13:04:05Z\x00\""), 400, "control character"},
		{"escaped NUL in a string", "POST", "/event", nil, withField("timestamp", `"2026-11-02T13:04:05Z\u0000"`), 400, "timestamp"},
		{"byte order mark", "POST", "/event", nil, "\xef\xbb\xbf" + valid, 400, "body"},
		{"trailing garbage", "POST", "/event", nil, valid + "garbage", 400, "single JSON object"},
		{"two objects", "POST", "/event", nil, valid + valid, 400, "single JSON object"},
		{"empty object", "POST", "/event", nil, "{}", 400, "client: is required"},
		{"half a body", "POST", "/event", nil, valid[:len(valid)/2], 400, "malformed JSON"},
		{"a big string", "POST", "/event", nil, `"` + strings.Repeat("x", 500000) + `"`, 400, "body: must be a JSON object"},
		{"10,000 unknown fields", "POST", "/event", nil, "{" + strings.TrimSuffix(strings.Repeat(`"x":1,`, 10000), ",") + "}", 400, "x: unknown field"},
		{"a 10 KB id", "POST", "/event", nil, withField("id", `"`+strings.Repeat("a", 10000)+`"`), 400, "id: must be a UUID"},
		{"a 10 KB key", "POST", "/event", nil, valid[:len(valid)-1] + `,"` + strings.Repeat("k", 10000) + `":1}`, 400, "unknown field"},
		{"year 10000", "POST", "/event", nil, withField("timestamp", `"10000-01-01T00:00:00Z"`), 400, "timestamp"},
		{"year 0", "POST", "/event", nil, withField("timestamp", `"0000-01-01T00:00:00Z"`), 400, "timestamp"},
		{"value 1e308", "POST", "/event", nil, withField("value", "1e308"), 400, "value"},
		{"body over 1 MiB", "POST", "/event", nil, valid + strings.Repeat(" ", 1<<20), 413, "limit"},
		{"XML", "POST", "/event", map[string]string{"Content-Type": "application/xml"}, "<event/>", 415, "Content-Type"},
		{"broken Content-Type", "POST", "/event", map[string]string{"Content-Type": "application/json; charset"}, valid, 415, "Content-Type"},
		{"gzip on /event", "POST", "/event", map[string]string{"Content-Encoding": "gzip"}, gzipped(t, valid), 415, "Content-Encoding"},
		{"form body", "POST", "/event", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "client=1", 415, "Content-Type"},
		// Bodies of POST /events.
		{"gzip bomb", "POST", "/events", map[string]string{"Content-Encoding": "gzip"}, bomb, 413, "limits"},
		{"gzip bomb, NDJSON", "POST", "/events", map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}, ndjsonBomb, 413, "limits"},
		{"10,001 events", "POST", "/events", nil, "[" + many("{}", 10001, ",") + "]", 413, "10000 events"},
		{"10,001 NDJSON lines", "POST", "/events", map[string]string{"Content-Type": "application/x-ndjson"}, many("1", 10001, "\n"), 413, "10000 events"},
		{"over 10 MiB", "POST", "/events", nil, "[" + valid + strings.Repeat(" ", 10<<20) + "]", 413, "limits"},
		{"nested arrays", "POST", "/events", nil, strings.Repeat("[", 1<<20), 400, "nested deeper"},
		{"only white space", "POST", "/events", map[string]string{"Content-Type": "application/x-ndjson"}, strings.Repeat(" \n", 1000), 400, "no event"},
		{"a malformed element", "POST", "/events", nil, "[" + valid + "," + valid[:20] + "]", 400, "malformed JSON"},
		{"NaN in a batch", "POST", "/events", nil, "[" + withField("value", "NaN") + "]", 400, "malformed JSON"},
		{"not gzip", "POST", "/events", map[string]string{"Content-Encoding": "gzip"}, "[" + valid + "]", 400, "gzip"},
		{"gzip with garbage after", "POST", "/events", map[string]string{"Content-Encoding": "gzip"}, gzipped(t, "["+valid+"]") + "garbage", 400, "gzip"},
		{"deflate", "POST", "/events", map[string]string{"Content-Encoding": "deflate"}, "[" + valid + "]", 415, "Content-Encoding"},
		{"CSV body", "POST", "/events", map[string]string{"Content-Type": "text/csv"}, "client\n1\n", 415, "Content-Type"},
		// Query strings.
		{"overlong group_by", "GET", "/report?group_by=" + many("client", 20000, ","), nil, "", 400, "group_by"},
		{"5,000 repeated limits", "GET", "/report?" + many("limit=1", 5000, "&"), nil, "", 400, "limit: given more than once"},
		{"5,000 unknown parameters", "GET", "/report?" + func() string {
			var b strings.Builder
			for i := range 5000 {
				fmt.Fprintf(&b, "p%d=1&", i)
			}
			return b.String()
		}(), nil, "", 400, "p0: unknown parameter"},
		{"100 KB value", "GET", "/report?tz=" + strings.Repeat("A", 100000), nil, "", 400, "tz"},
		{"%00 in a value", "GET", "/report?tz=%00", nil, "", 400, "tz"},
		{"%00 in a name", "GET", "/report?limit%00=1", nil, "", 400, "unknown parameter"},
		{"malformed escape", "GET", "/report?limit=%zz", nil, "", 400, "malformed query"},
		{"semicolon", "GET", "/report?limit=1;offset=2", nil, "", 400, "malformed query"},
		{"limit of 20 digits", "GET", "/report?limit=99999999999999999999", nil, "", 400, "limit"},
		{"limit 0", "GET", "/report?limit=0", nil, "", 400, "limit"},
		{"offset -1", "GET", "/report?offset=-1", nil, "", 400, "offset"},
		{"February 30", "GET", "/report?start_date=2026-02-30", nil, "", 400, "start_date"},
		{"zone by path", "GET", "/report?tz=../../../../etc/localtime", nil, "", 400, "tz"},
		{"zone Local", "GET", "/report?tz=Local", nil, "", 400, "tz"},
		{"categories 1e400", "GET", "/report?categories=1e400", nil, "", 400, "categories"},
		{"order_by --date", "GET", "/report?order_by=--date", nil, "", 400, "order_by"},
		{"valid TRUE", "GET", "/report?valid=TRUE", nil, "", 400, "valid"},
		{"invalid UTF-8 in a value", "GET", "/report?tz=%FF%FE", nil, "", 400, "tz"},
		// Paths and methods.
		{"traversal in an id", "GET", "/event/..%2F..%2Fetc%2Fpasswd", nil, "", 400, "event_id"},
		{"traversal in a delete", "DELETE", "/event/..%2Freport", nil, "", 400, "event_id"},
		{"%00 as an id", "GET", "/event/%00", nil, "", 400, "event_id"},
		{"%00 after an id", "GET", "/event/" + id + "%00", nil, "", 400, "event_id"},
		{"%00 in a path", "GET", "/report%00", nil, "", 404, "no such path"},
		{"a 10 KB id in the path", "GET", "/event/" + strings.Repeat("a", 10000), nil, "", 400, "event_id"},
		{"PUT an event", "PUT", "/event", jsonType, valid, 405, "not allowed"},
		{"PATCH a report", "PATCH", "/report", nil, "", 405, "not allowed"},
		{"DELETE a report", "DELETE", "/report", nil, "", 405, "not allowed"},
		{"POST a probe", "POST", "/healthz", jsonType, valid, 405, "not allowed"},
		{"TRACE", "TRACE", "/event", nil, "", 405, "not allowed"},
		{"invented method", "BREW", "/report", nil, "", 405, "not allowed"},
		{"lower-case method", "get", "/report", nil, "", 405, "not allowed"},
		{"GET /events", "GET", "/events", nil, "", 405, "not allowed"},
		{"unknown path", "GET", "/admin", nil, "", 404, "no such path"},
		// Headers.
		{"10 KB Accept", "GET", "/report", map[string]string{"Accept": strings.Repeat("x/y,", 2500)}, "", 406, "Accept"},
		{"Accept XML", "GET", "/event/" + id, map[string]string{"Accept": "application/xml"}, "", 406, "Accept"},
	}
	ts := newServer(t)
	for _, body := range []string{valid, event(map[string]any{"id": id, "device_type": null, "client": 9})} {
		if r := ts.post(t, "/event", body); r.Status != http.StatusCreated {
			t.Fatalf("seed: %d %s", r.Status, r.Body)
		}
	}
	before := ts.get(t, "/report").Body
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(t, tt.method, tt.path, tt.header, tt.body)
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tt.want, r.Body)
			}
			msg := r.errorMessage(t)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %.300q does not contain %q", msg, tt.msg)
			}
			if len(r.Body) > 4096 {
				t.Errorf("a %d-byte answer", len(r.Body))
			}
		})
	}
	slow := slowRequests(t, ts)
	t.Logf("%d hostile requests through the client, %d over raw TCP", len(tests), slow)
	if diff := cmp.Diff(string(before), string(ts.get(t, "/report").Body)); diff != "" {
		t.Errorf("the report changed (-before +after):\n%s", diff)
	}
}

// slowRequests sends, over raw TCP, what the Go client will not: slow and
// broken bodies to a server with a short read timeout, a header section
// without end, and request lines net/http refuses itself. It returns how
// many it sent.
func slowRequests(t *testing.T, ts *testServer) int {
	t.Helper()
	h, err := api.NewHandler(api.Config{Store: ts.store, Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = 300 * time.Millisecond
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.MaxHeaderBytes = 8 << 10
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	valid := event(nil)

	// Answered by the API with its error JSON.
	jsonCases := []struct {
		name string
		raw  string // the request as sent; the connection then stays open
		want int
		msg  string
	}{
		// A body cut by the read timeout is 408, not the client's fault of
		// syntax.
		{"slow body", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n" + valid[:10], 408, "body: not received in time"},
		{"slow bulk body", "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n[" + valid, 408, "body: not received in time"},
		{"slow gzip body", "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 5000\r\n\r\n" + gzipped(t, "["+valid)[:15], 408, "body: not received in time"},
		{"slow chunked body", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"cli\r\n", 408, "body: not received in time"},
		{"broken chunk", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "body: could not be read"},
		{"invalid UTF-8 in the path", "GET /event/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400, "event_id"},
	}
	for _, tc := range jsonCases {
		t.Run(tc.name, func(t *testing.T) {
			res := rawRequest(t, addr, tc.raw)
			if res == nil {
				t.Fatal("connection closed without an answer")
			}
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want)
			}
			b, _ := io.ReadAll(res.Body)
			r := &response{Status: res.StatusCode, Header: res.Header, Body: b}
			// Checked against the document too, when the request line
			// makes a request the document's router can read.
			line, _, _ := strings.Cut(tc.raw, "\r\n")
			if f := strings.Fields(line); len(f) == 3 {
				if req, err := http.NewRequest(f[0], "http://x"+f[1], nil); err == nil {
					checkResponse(t, req, r)
				}
			}
			if msg := r.errorMessage(t); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}

	// Refused by net/http before any handler runs: its own plain-text 4xx,
	// or the connection closed. No handler, so no JSON: net/http writes
	// these answers itself (server.go, errorHeaders) and has no hook to
	// change them. Listed here so that a change of Go's behaviour shows.
	httpCases := []struct {
		name string
		raw  string
		want int // 0: the connection is closed without an answer
	}{
		{"header section without end", "GET /report HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n", 0},
		{"endless header", "GET /report HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 64<<10), 431},
		{"10,000 headers", "GET /report HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 10000) + "\r\n", 431},
		{"malformed escape in the path", "GET /event/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"negative Content-Length", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"two Content-Lengths", "POST /event HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}", 400},
		{"no Host", "GET /report HTTP/1.1\r\n\r\n", 400},
		{"HTTP/9", "GET /report HTTP/9.0\r\nHost: x\r\n\r\n", 505},
		{"NUL in the request line", "GET /report\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tc := range httpCases {
		t.Run(tc.name, func(t *testing.T) {
			res := rawRequest(t, addr, tc.raw)
			switch {
			case tc.want == 0 && res != nil:
				t.Errorf("status %d, want the connection closed", res.StatusCode)
			case tc.want != 0 && res == nil:
				t.Errorf("connection closed, want %d", tc.want)
			case tc.want != 0 && res.StatusCode != tc.want:
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	return len(jsonCases) + len(httpCases)
}

// rawRequest writes raw on a new connection and reads one answer, or
// returns nil when the server closes the connection without one.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A deadline only so that a broken server fails the test instead of
	// hanging it: far beyond the server's own timeouts.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return nil
		}
		t.Fatalf("reading the answer: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}
