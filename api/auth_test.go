package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/api"
)

func TestAPIKeys(t *testing.T) {
	const key1, key2 = "k1-Secret_0123", "k2-Secret_4567"
	const id = "3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	type req struct {
		method, path string
		header       map[string]string
		body         string
		want         int
	}
	writes := func(h map[string]string, want, wantCreated int) []req {
		return []req{
			{http.MethodPost, "/event", h, event(map[string]any{"id": id}), wantCreated},
			{http.MethodPost, "/events", h, "[" + event(nil) + "]", want},
			{http.MethodDelete, "/event/" + id, h, "", map[bool]int{true: 204, false: want}[want == 200]},
			// A stranger learns nothing of the body's validity.
			{http.MethodPost, "/event", h, `{"bad":`, map[bool]int{true: 400, false: want}[want == 200]},
		}
	}
	reads := func(h map[string]string, want int) []req {
		return []req{
			{http.MethodGet, "/report", h, "", want},
			{http.MethodGet, "/event/" + id, h, "", map[bool]int{true: 404, false: want}[want == 200]},
		}
	}
	open := func(h map[string]string) []req {
		var out []req
		for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml", "/ui"} {
			out = append(out, req{http.MethodGet, p, h, "", 200})
		}
		return out
	}
	concat := func(lists ...[]req) []req {
		var out []req
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	none := map[string]string(nil)
	tests := []struct {
		name      string
		keys      []string
		authReads bool
		reqs      []req
	}{
		{"no keys: all open", nil, false, concat(writes(none, 200, 201), reads(none, 200), open(none))},
		{"keys, no key sent", []string{key1, key2}, false, concat(writes(none, 401, 401), reads(none, 200), open(none))},
		{"keys, first key", []string{key1, key2}, false, concat(writes(bearer(key1), 200, 201), reads(none, 200))},
		{"keys, second key, scheme in lower case", []string{key1, key2}, false,
			writes(map[string]string{"Authorization": "bearer " + key2}, 200, 201)},
		{"keys, wrong key", []string{key1, key2}, false, concat(writes(bearer("k1-Secret_012"), 403, 403), writes(bearer(key1+"x"), 403, 403))},
		{"keys, malformed headers", []string{key1}, false, concat(
			writes(map[string]string{"Authorization": "Basic " + key1}, 401, 401),
			writes(map[string]string{"Authorization": "Bearer"}, 401, 401),
			writes(map[string]string{"Authorization": "Bearer  "}, 401, 401),
			writes(map[string]string{"Authorization": key1}, 401, 401),
			writes(map[string]string{"Authorization": "Bearer " + key1 + " extra"}, 401, 401),
			// RFC 6750: "Bearer" 1*SP b64token. A tab is no separator,
			// and white space inside the key is not the key.
			writes(map[string]string{"Authorization": "Bearer \t" + key1}, 401, 401),
			writes(map[string]string{"Authorization": "Bearer\t" + key1}, 401, 401),
			writes(map[string]string{"Authorization": "Bearer " + key1 + "\t\tx"}, 401, 401),
		)},
		// The scheme is case-insensitive (RFC 7235 2.1), 1*SP may separate
		// it from the key, and the header's own leading and trailing white
		// space is not part of its value (RFC 9110 5.5).
		{"keys, scheme in any case, spaces the grammar allows", []string{key1}, false, concat(
			writes(map[string]string{"Authorization": "BEARER " + key1}, 200, 201),
			writes(map[string]string{"Authorization": "bEaReR   " + key1}, 200, 201),
			writes(map[string]string{"Authorization": " Bearer " + key1 + " \t"}, 200, 201),
		)},
		{"auth reads, no key", []string{key1}, true, concat(reads(none, 401), open(none))},
		{"auth reads, wrong key", []string{key1}, true, concat(reads(bearer(key2), 403), open(bearer(key2)))},
		{"auth reads, key", []string{key1}, true, concat(writes(bearer(key1), 200, 201), reads(bearer(key1), 200))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, func(c *apiConfig) { c.APIKeys, c.AuthReads = tt.keys, tt.authReads })
			for _, rq := range tt.reqs {
				r := ts.do(t, rq.method, rq.path, rq.header, rq.body)
				if r.Status != rq.want {
					t.Errorf("%s %s %v: status %d, want %d: %.200s", rq.method, rq.path, rq.header, r.Status, rq.want, r.Body)
					continue
				}
				if r.Status >= 400 {
					r.errorMessage(t)
				}
				if got := r.Header.Get("WWW-Authenticate"); (r.Status == 401) != (got != "") || got != "" && !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s %s: %d with WWW-Authenticate %q", rq.method, rq.path, r.Status, got)
				}
			}
			if logs := ts.logs.String(); strings.Contains(logs, "Secret_") || strings.Contains(logs, "Bearer") {
				t.Errorf("a key or the Authorization header reached the logs:\n%s", logs)
			}
		})
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		ts := newServer(t, func(c *apiConfig) { c.APIKeys = []string{key1} })
		rq, err := http.NewRequest(http.MethodDelete, ts.URL+"/event/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		rq.Header.Add("Authorization", "Bearer "+key1)
		rq.Header.Add("Authorization", "Bearer "+key1)
		res, err := ts.Client().Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", res.StatusCode)
		}
	})
}

func TestAPIKeysConfig(t *testing.T) {
	store := openStore(t)
	for name, cfg := range map[string]api.Config{
		"AuthReads without keys":               {Store: store, AuthReads: true},
		"empty key":                            {Store: store, APIKeys: []string{"a", ""}},
		"key with a space":                     {Store: store, APIKeys: []string{"a b"}},
		"negative limit":                       {Store: store, MaxInFlight: -1},
		"in-flight bytes below the body limit": {Store: store, MaxInFlightBytes: 1 << 20, MaxBatchBytes: 2 << 20},
	} {
		if _, err := api.NewHandler(cfg); err == nil {
			t.Errorf("%s: NewHandler accepted it", name)
		} else if strings.Contains(err.Error(), "a b") {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}

// TestSecurityInDocument checks what Swagger UI and generated clients read
// of the keys: a bearer scheme, optional (`- {}` beside it) on every
// operation a configured server may protect, since a server without keys
// takes anonymous writes and reads alike; and nothing on the open ones.
func TestSecurityInDocument(t *testing.T) {
	doc, _ := mustDoc(t)
	scheme := doc.Components.SecuritySchemes["bearerAuth"]
	if scheme == nil || scheme.Value.Type != "http" || scheme.Value.Scheme != "bearer" {
		t.Fatalf("no bearer security scheme: %+v", scheme)
	}
	for _, tt := range []struct {
		path, method string
		optional     bool
	}{
		{"/event", http.MethodPost, true},
		{"/events", http.MethodPost, true},
		{"/events", http.MethodDelete, true},
		{"/event/{event_id}", http.MethodDelete, true},
		{"/event/{event_id}", http.MethodGet, true},
		{"/report", http.MethodGet, true},
	} {
		op := doc.Paths.Find(tt.path).GetOperation(tt.method)
		if op.Security == nil {
			t.Errorf("%s %s: no security", tt.method, tt.path)
			continue
		}
		var bearer, empty bool
		for _, req := range *op.Security {
			_, ok := req["bearerAuth"]
			bearer = bearer || ok
			empty = empty || len(req) == 0
		}
		if !bearer || empty != tt.optional {
			t.Errorf("%s %s: security %v", tt.method, tt.path, *op.Security)
		}
		for _, status := range []int{401, 403} {
			if op.Responses.Status(status) == nil {
				t.Errorf("%s %s: no %d response", tt.method, tt.path, status)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml", "/ui"} {
		if op := doc.Paths.Find(path).Get; op.Security != nil && len(*op.Security) > 0 {
			t.Errorf("GET %s has security %v", path, *op.Security)
		}
	}
}

// TestSwaggerUIDocument checks the document Swagger UI is given: a padlock
// (a security requirement) exactly on the operations this server asks a
// key for, no Authorize button without keys, and a type on the items of
// every list parameter (else the UI shows array<undefined>).
func TestSwaggerUIDocument(t *testing.T) {
	writes := []string{"POST /event", "POST /events", "DELETE /events", "DELETE /event/{event_id}"}
	reads := []string{"GET /event/{event_id}", "GET /report"}
	for _, tt := range []struct {
		name      string
		keys      []string
		authReads bool
		locked    []string
	}{
		{"no keys", nil, false, nil},
		{"keys", []string{"k1-Secret_0123"}, false, writes},
		{"keys for reads too", []string{"k1-Secret_0123"}, true, append(append([]string{}, writes...), reads...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, func(c *apiConfig) { c.APIKeys, c.AuthReads = tt.keys, tt.authReads })
			r := ts.get(t, "/ui/openapi.json")
			if r.Status != http.StatusOK {
				t.Fatalf("GET /ui/openapi.json: %d %s", r.Status, r.Body)
			}
			var doc struct {
				Paths      map[string]map[string]json.RawMessage `json:"paths"`
				Components struct {
					SecuritySchemes map[string]any `json:"securitySchemes"`
				} `json:"components"`
			}
			if err := json.Unmarshal(r.Body, &doc); err != nil {
				t.Fatal(err)
			}
			var locked []string
			for path, item := range doc.Paths {
				for method, raw := range item {
					var op struct {
						Security   []map[string][]string `json:"security"`
						Parameters []struct {
							Name   string `json:"name"`
							Schema struct {
								Type  string         `json:"type"`
								Items map[string]any `json:"items"`
							} `json:"schema"`
						} `json:"parameters"`
					}
					if json.Unmarshal(raw, &op) != nil {
						continue // the path's own parameters
					}
					if len(op.Security) > 0 {
						if len(op.Security) != 1 || op.Security[0]["bearerAuth"] == nil {
							t.Errorf("%s %s: security %v, want bearerAuth alone", method, path, op.Security)
						}
						locked = append(locked, strings.ToUpper(method)+" "+path)
					}
					for _, p := range op.Parameters {
						if p.Schema.Type == "array" && p.Schema.Items["type"] == nil {
							t.Errorf("%s %s: items of %s have no type: %v", method, path, p.Name, p.Schema.Items)
						}
					}
				}
			}
			slices.Sort(locked)
			want := slices.Sorted(slices.Values(tt.locked))
			if diff := cmp.Diff(want, locked); diff != "" {
				t.Errorf("operations with a padlock (-want +got):\n%s", diff)
			}
			if (doc.Components.SecuritySchemes != nil) != (tt.keys != nil) {
				t.Errorf("security schemes %v with keys %v", doc.Components.SecuritySchemes, tt.keys)
			}
		})
	}
}
