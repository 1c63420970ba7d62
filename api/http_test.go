package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v4"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
)

func TestNegotiation(t *testing.T) {
	ts := newServer(t)
	id := decode(t, ts.post(t, "/event", event(nil)).Body)["id"].(string)
	endpoints := []struct{ method, path, body string }{
		{http.MethodGet, "/event/" + id, ""},
		{http.MethodGet, "/report", ""},
		{http.MethodGet, "/healthz", ""},
		{http.MethodGet, "/readyz", ""},
		{http.MethodGet, "/openapi.json", ""},
		{http.MethodPost, "/event", event(map[string]any{"id": nil})},
	}
	accepts := []struct {
		accept string
		ok     bool
	}{
		{"", true},
		{"*/*", true},
		{"application/*", true},
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"text/html, application/json;q=0.1", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true}, // a browser
		{"text/html", false},
		{"application/xml", false},
		{"image/png, text/plain", false},
		{"application/json;q=0", false},
	}
	for _, e := range endpoints {
		for _, a := range accepts {
			t.Run(e.method+" "+e.path+" Accept "+a.accept, func(t *testing.T) {
				r := ts.do(t, e.method, e.path, map[string]string{"Accept": a.accept}, e.body)
				if a.ok {
					if r.Status >= 300 {
						t.Fatalf("status %d: %s", r.Status, r.Body)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
						t.Errorf("Content-Type %q", ct)
					}
					return
				}
				if r.Status != http.StatusNotAcceptable {
					t.Fatalf("status %d, want 406: %s", r.Status, r.Body)
				}
				r.errorMessage(t)
			})
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/event", "POST"},
		{http.MethodPut, "/event", "POST"},
		{http.MethodPost, "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd", "GET, DELETE"},
		{http.MethodPatch, "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd", "GET, DELETE"},
		{http.MethodPost, "/report", "GET"},
		{http.MethodDelete, "/healthz", "GET"},
		{http.MethodPost, "/openapi.json", "GET"},
	}
	ts := newServer(t)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := ts.do(t, tt.method, tt.path, nil, "")
			if r.Status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405: %s", r.Status, r.Body)
			}
			if got := r.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			r.errorMessage(t)
		})
	}
}

func TestNotFoundPath(t *testing.T) {
	ts := newServer(t)
	for _, path := range []string{"/", "/events/x", "/event/", "/reports", "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd/x"} {
		t.Run(path, func(t *testing.T) {
			r := ts.get(t, path)
			if r.Status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", r.Status, r.Body)
			}
			r.errorMessage(t)
		})
	}
}

func TestHealth(t *testing.T) {
	ts := newServer(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := ts.get(t, path)
		if r.Status != http.StatusOK || string(r.Body) != "{\"status\":\"ok\"}\n" {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	if r := ts.get(t, "/healthz?verbose=1"); r.Status != http.StatusBadRequest {
		t.Errorf("/healthz with an unknown parameter: %d %s", r.Status, r.Body)
	}
}

func TestReadyUnavailable(t *testing.T) {
	store := openStore(t)
	ts := newServerOn(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	r := ts.get(t, "/readyz")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", r.Status, r.Body)
	}
	r.errorMessage(t)
	if r := ts.get(t, "/healthz"); r.Status != http.StatusOK {
		t.Errorf("/healthz with the store down: %d, want 200", r.Status)
	}
}

// faultyStore is the real store with one failure injected: it lets the
// tests reach the 500 path and panic recovery.
type faultyStore struct {
	tally.Store
	err   error
	panic bool
}

func (s *faultyStore) Event(ctx context.Context, id tally.ID) (tally.Event, error) {
	if s.panic {
		panic("injected")
	}
	return tally.Event{}, s.err
}

func TestInternalError(t *testing.T) {
	tests := []struct {
		name  string
		store *faultyStore
		want  int
		msg   string
	}{
		{"driver error", &faultyStore{err: errors.New("disk on fire")}, http.StatusInternalServerError, "internal error"},
		{"wrapped internal", &faultyStore{err: tally.Errorf(tally.EInternal, "secret detail")}, http.StatusInternalServerError, "internal error"},
		{"panic", &faultyStore{panic: true}, http.StatusInternalServerError, "internal error"},
		{"unavailable", &faultyStore{err: tally.Errorf(tally.EUnavailable, "store is restarting")}, http.StatusServiceUnavailable, "store is restarting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.store.Store = openStore(t)
			ts := newServerOn(t, tt.store)
			r := ts.do(t, http.MethodGet, "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd", map[string]string{"X-Request-ID": "req-42"}, "")
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Body)
			}
			if got := r.errorMessage(t); got != tt.msg {
				t.Errorf("message %q, want %q", got, tt.msg)
			}
			if tt.want == http.StatusInternalServerError {
				logs := ts.logs.String()
				if !strings.Contains(logs, `"request_id":"req-42"`) || !strings.Contains(logs, `"level":"ERROR"`) {
					t.Errorf("the internal error is not logged with its request id:\n%s", logs)
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	ts := newServer(t)
	r := ts.do(t, http.MethodGet, "/healthz", map[string]string{"X-Request-ID": "abc-123"}, "")
	if got := r.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID %q, want the client's", got)
	}
	a := ts.get(t, "/healthz").Header.Get("X-Request-ID")
	b := ts.get(t, "/healthz").Header.Get("X-Request-ID")
	if a == "" || a == b {
		t.Errorf("generated ids %q and %q: want distinct and non-empty", a, b)
	}
	r = ts.do(t, http.MethodGet, "/healthz", map[string]string{"X-Request-ID": strings.Repeat("x", 500)}, "")
	if got := r.Header.Get("X-Request-ID"); len(got) > 128 {
		t.Errorf("an oversized id was echoed (%d bytes)", len(got))
	}
	// One log line per request, with the route pattern.
	var line struct {
		Method, Route, RequestID string
		Status                   int
	}
	for l := range strings.SplitSeq(strings.TrimSpace(ts.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["request_id"] == "abc-123" {
			line.Method, line.Route, line.Status = m["method"].(string), m["route"].(string), int(m["status"].(float64))
			if _, ok := m["duration"]; !ok {
				t.Errorf("log line without duration: %s", l)
			}
		}
	}
	if line.Method != "GET" || line.Route != "/healthz" || line.Status != 200 {
		t.Errorf("log line for abc-123: %+v", line)
	}
}

func TestMetrics(t *testing.T) {
	ts := newServer(t)
	ts.post(t, "/event", event(nil))
	ts.get(t, "/event/3f2c1a9e-5b7d-4c8e-9f01-23456789abcd")
	ts.get(t, "/nowhere")
	r := ts.get(t, "/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	body := string(r.Body)
	for _, want := range []string{
		`tally_http_requests_total{method="POST",route="/event",status="201"} 1`,
		`tally_http_requests_total{method="GET",route="/event/{event_id}",status="404"} 1`,
		`tally_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`tally_http_request_duration_seconds_count{method="POST",route="/event",status="201"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The registry passed in is the one served.
	mfs, err := ts.reg.Gather()
	if err != nil || len(mfs) == 0 {
		t.Errorf("registry passed in has no metrics: %v", err)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	ts := newServer(t)
	y := ts.do(t, http.MethodGet, "/openapi.yaml", nil, "")
	if y.Status != http.StatusOK || string(y.Body) != string(api.OpenAPIYAML) {
		t.Fatalf("/openapi.yaml: %d, body differs from the embedded document", y.Status)
	}
	j := ts.get(t, "/openapi.json")
	if j.Status != http.StatusOK {
		t.Fatalf("/openapi.json: %d", j.Status)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j.Body, &fromJSON); err != nil {
		t.Fatalf("/openapi.json does not parse: %v", err)
	}
	if err := yaml.Unmarshal(api.OpenAPIYAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so that YAML's integers compare with JSON's numbers.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var yamlAsJSON any
	if err := json.Unmarshal(b, &yamlAsJSON); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(yamlAsJSON, fromJSON); diff != "" {
		t.Errorf("/openapi.json vs openapi.yaml (-yaml +json):\n%s", diff)
	}
	if fromJSON.(map[string]any)["openapi"] != "3.0.3" {
		t.Errorf("openapi version %v", fromJSON.(map[string]any)["openapi"])
	}
}

// TestUI checks that /ui is Swagger UI on the document (/openapi.json with
// the security this server applies, see TestSwaggerUIDocument) and that
// every asset it loads comes from this server.
func TestUI(t *testing.T) {
	ts := newServer(t)
	r := ts.get(t, "/ui")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	page := string(r.Body)
	if !strings.Contains(page, `"/ui/openapi.json"`) {
		t.Errorf("/ui does not point at /ui/openapi.json")
	}
	// Without keys, the UI's document is /openapi.json without security.
	var served, ui map[string]any
	for _, d := range []struct {
		path string
		v    *map[string]any
	}{{"/openapi.json", &served}, {"/ui/openapi.json", &ui}} {
		if err := json.Unmarshal(ts.get(t, d.path).Body, d.v); err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
	}
	delete(served["components"].(map[string]any), "securitySchemes")
	for _, item := range served["paths"].(map[string]any) {
		for _, op := range item.(map[string]any) {
			if op, ok := op.(map[string]any); ok {
				delete(op, "security")
			}
		}
	}
	if diff := cmp.Diff(served, ui); diff != "" {
		t.Errorf("/ui/openapi.json vs /openapi.json without security (-served +ui):\n%s", diff)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("only %d assets found in /ui", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("/ui loads %q, not from this server", ref)
			continue
		}
		res, err := ts.Client().Get(ts.URL + ref)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || n == 0 {
			t.Errorf("asset %s: %d, %d bytes", ref, res.StatusCode, n)
		}
	}
	if regexp.MustCompile(`(?:src|href)="https?:`).MatchString(page) {
		t.Errorf("/ui references an external URL")
	}
}

// TestUINotFound checks that a missing Swagger UI asset is a 404 with the
// error JSON, like every other unknown path, not the file server's text.
func TestUINotFound(t *testing.T) {
	ts := newServer(t)
	for _, path := range []string{"/ui/no-such-asset.js", "/ui/x/y"} {
		t.Run(path, func(t *testing.T) {
			r := ts.get(t, path)
			if r.Status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", r.Status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			r.errorMessage(t)
		})
	}
}
