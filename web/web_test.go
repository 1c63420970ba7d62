package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/tallyhq/tally/web"
)

// assetPaths returns the script's and the stylesheet's paths, as the page
// names them.
func assetPaths(t *testing.T, page string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(m) != 2 {
		t.Fatalf("page names %d static assets, want 2 (script and stylesheet)", len(m))
	}
	paths := []string{m[0][1], m[1][1]}
	if strings.HasSuffix(paths[0], ".css") {
		paths[0], paths[1] = paths[1], paths[0]
	}
	return paths
}

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPageAndAssets(t *testing.T) {
	h := web.Handler()
	res := get(t, h, http.MethodGet, "/", nil)
	page := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", res.StatusCode)
	}
	paths := assetPaths(t, page)
	tests := []struct {
		path, contentType, cacheControl string
	}{
		{"/", "text/html; charset=utf-8", "no-cache"},
		{paths[0], "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{paths[1], "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
	}
	total := 0
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := get(t, h, http.MethodGet, tt.path, nil)
			b := body(t, res)
			total += len(b)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type": tt.contentType, "Cache-Control": tt.cacheControl, "X-Content-Type-Options": "nosniff",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			etag := res.Header.Get("ETag")
			if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
				t.Fatalf("ETag = %q, want a strong hash tag", etag)
			}
			res = get(t, h, http.MethodGet, tt.path, map[string]string{"If-None-Match": etag})
			if res.StatusCode != http.StatusNotModified || body(t, res) != "" {
				t.Errorf("If-None-Match with the ETag: status %d, want 304 and no body", res.StatusCode)
			}
			res = get(t, h, http.MethodHead, tt.path, nil)
			if res.StatusCode != http.StatusOK || body(t, res) != "" {
				t.Errorf("HEAD: status %d, want 200 and no body", res.StatusCode)
			}

			res = get(t, h, http.MethodGet, tt.path, map[string]string{"Accept-Encoding": "gzip, br"})
			if res.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Accept-Encoding gzip: Content-Encoding = %q", res.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			unzipped, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(unzipped, []byte(b)) {
				t.Error("gzip body differs from the plain body")
			}
			res = get(t, h, http.MethodGet, tt.path, map[string]string{"Accept-Encoding": "gzip;q=0"})
			if res.Header.Get("Content-Encoding") != "" {
				t.Error("gzip;q=0 still got gzip")
			}
		})
	}
	// The budget: the dashboard stays small and fast to first paint.
	if total > 300<<10 {
		t.Errorf("assets total %d bytes, over the 300 KB budget", total)
	}
	t.Logf("assets total %d bytes uncompressed", total)
}

func TestNoExternalResources(t *testing.T) {
	h := web.Handler()
	page := body(t, get(t, h, http.MethodGet, "/", nil))
	texts := map[string]string{"/": page}
	for _, p := range assetPaths(t, page) {
		texts[p] = body(t, get(t, h, http.MethodGet, p, nil))
	}
	// The only absolute URL allowed is the SVG namespace, which is a name,
	// not something fetched.
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for p, text := range texts {
		for _, m := range url.FindAllString(text, -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to %s; the dashboard must work offline", p, m)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/static/app.js", http.StatusNotFound}, // only hashed names are served
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON like every API error", ct)
			}
			var e struct{ Message string }
			if err := json.Unmarshal([]byte(body(t, res)), &e); err != nil || e.Message == "" {
				t.Errorf("body is not {\"message\": ...}: %v", err)
			}
			if tt.status == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", res.Header.Get("Allow"))
			}
		})
	}
}

func TestWithDashboard(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From", "api")
		w.WriteHeader(http.StatusTeapot)
	})
	h := web.WithDashboard(api)
	tests := []struct {
		method, path string
		status       int
		fromAPI      bool
	}{
		{http.MethodGet, "/", http.StatusOK, false},
		{http.MethodHead, "/", http.StatusOK, false},
		{http.MethodGet, "/static/nope.js", http.StatusNotFound, false},
		{http.MethodGet, "/report", http.StatusTeapot, true},
		{http.MethodGet, "/ui", http.StatusTeapot, true},
		{http.MethodGet, "/index.html", http.StatusTeapot, true},
		{http.MethodPost, "/", http.StatusTeapot, true},
		{http.MethodPost, "/event", http.StatusTeapot, true},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path, map[string]string{"Accept": "text/html"})
			if res.StatusCode != tt.status || (res.Header.Get("X-From") == "api") != tt.fromAPI {
				t.Errorf("status %d from api %v, want %d from api %v",
					res.StatusCode, res.Header.Get("X-From") == "api", tt.status, tt.fromAPI)
			}
		})
	}
	// The page's assets are reachable through the composed handler.
	for _, p := range assetPaths(t, body(t, get(t, h, http.MethodGet, "/", nil))) {
		if res := get(t, h, http.MethodGet, p, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p, res.StatusCode)
		}
	}
}
