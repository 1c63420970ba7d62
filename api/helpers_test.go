package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
)

// docRouter is the document and a router over it, loaded once for every
// response check.
var docRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		return nil, err
	}
	// The document's one server is relative ("/": wherever it is served);
	// the test servers listen on ports of their own.
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

func mustDoc(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	r, err := docRouter()
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	return doc, r
}

// testServer is the real handler on a real store behind a real listener.
type testServer struct {
	*httptest.Server
	store tally.Store
	reg   *prometheus.Registry
	logs  *syncBuffer
	ids   *idSeq
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// idSeq hands out predictable ids: 00000000-0000-4000-8000-00000000000N.
type idSeq struct {
	mu sync.Mutex
	n  uint32
}

func (s *idSeq) next() tally.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	var id tally.ID
	id[6], id[8] = 0x40, 0x80
	id[12], id[13], id[14], id[15] = byte(s.n>>24), byte(s.n>>16), byte(s.n>>8), byte(s.n)
	return id
}

type option func(*apiConfig)

type apiConfig = api.Config

func newServer(t testing.TB, opts ...option) *testServer {
	t.Helper()
	return newServerOn(t, openStore(t), opts...)
}

func newServerOn(t testing.TB, store tally.Store, opts ...option) *testServer {
	t.Helper()
	ts := &testServer{store: store, reg: prometheus.NewRegistry(), logs: &syncBuffer{}, ids: &idSeq{}}
	cfg := api.Config{
		Store:    store,
		Logger:   slog.New(slog.NewJSONHandler(ts.logs, nil)),
		Registry: ts.reg,
		NewID:    ts.ids.next,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := api.NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	ts.Server = httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorMessage returns the error body's message, failing the test when the
// body is not the contract's error shape.
func (r *response) errorMessage(t testing.TB) string {
	t.Helper()
	var body struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Message == "" {
		t.Fatalf("error body %q: not {\"message\": ...} (%v)", r.Body, err)
	}
	return body.Message
}

// do sends a request and checks the answer against openapi.yaml before
// returning it.
func (ts *testServer) do(t testing.TB, method, path string, header map[string]string, body string) *response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
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

func (ts *testServer) get(t testing.TB, path string) *response {
	t.Helper()
	return ts.do(t, http.MethodGet, path, nil, "")
}

func (ts *testServer) post(t testing.TB, path, body string) *response {
	t.Helper()
	return ts.do(t, http.MethodPost, path, nil, body)
}

// checkResponse validates every answer against the document: the status
// must be listed for the operation and the body must match its schema.
// Answers outside any operation (unknown path, wrong method) must be the
// document's Error.
func checkResponse(t testing.TB, req *http.Request, r *response) {
	t.Helper()
	doc, router := mustDoc(t)
	if strings.HasPrefix(req.URL.Path, "/ui/") {
		return // Swagger UI's own assets
	}
	if r.Header.Get("X-Request-ID") == "" {
		t.Errorf("%s %s: no X-Request-ID in the answer", req.Method, req.URL)
	}
	route, params, err := router.FindRoute(req)
	for _, v := range params {
		if v == "" {
			// The legacy router matches GET /event to GET /event/{event_id}
			// with an empty id; the server has no such route.
			err = errors.New("no route")
		}
	}
	if err != nil {
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %q", req.Method, req.URL, r.Status, r.Body)
		}
		if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
			t.Errorf("%s %s: %d answer is not an Error: %v", req.Method, req.URL, r.Status, err)
		}
		return
	}
	ct := r.Header.Get("Content-Type")
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/csv") {
		// YAML, HTML and Prometheus text have no schema worth checking here.
		opts.ExcludeResponseBody = true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  r.Status,
		Header:  r.Header,
		Options: opts,
	}
	in.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: answer %d %s does not match openapi.yaml: %v", req.Method, req.URL, r.Status, r.Body, err)
	}
}
