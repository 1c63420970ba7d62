// Package web holds the dashboard: a page, one script and one stylesheet,
// embedded in the binary so the dashboard works offline and ships with the
// API it reads.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// asset is one file ready to serve: its bytes, a gzip copy when that is
// smaller, and a strong ETag derived from the content.
type asset struct {
	body, gz    []byte
	contentType string
	etag        string
	immutable   bool
}

// Handler returns the dashboard. Mount it at "/" below the API routes: it
// answers GET and HEAD for "/" (the page) and "/static/..." (script and
// stylesheet under content-hashed names, cacheable for a year), and 404 for
// anything else.
func Handler() http.Handler {
	h, err := newHandler()
	if err != nil {
		// The assets are compiled in; failing here means the build itself is
		// broken, which the package tests catch.
		panic(err)
	}
	return h
}

// WithDashboard serves the dashboard's page ("/") and assets ("/static/")
// and passes every other request to api. The dashboard is kept outside the
// API's handler so that the API's content negotiation does not turn away a
// browser asking for text/html.
func WithDashboard(api http.Handler) http.Handler {
	dashboard := Handler()
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", dashboard)
	mux.Handle("GET /static/", dashboard)
	mux.Handle("/", api)
	return mux
}

type handler struct {
	files map[string]*asset // by request path
}

func newHandler() (*handler, error) {
	h := &handler{files: make(map[string]*asset)}
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	// The page names its script and stylesheet by content hash, so browsers
	// may cache them forever and a new binary still takes effect at once.
	for _, f := range []struct{ name, ext, contentType string }{
		{"app", "js", "text/javascript; charset=utf-8"},
		{"style", "css", "text/css; charset=utf-8"},
	} {
		b, err := assets.ReadFile("assets/" + f.name + "." + f.ext)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		sum := sha256.Sum256(b)
		p := "/static/" + f.name + "." + hex.EncodeToString(sum[:6]) + "." + f.ext
		placeholder := []byte("/static/" + f.name + "." + f.ext)
		if !bytes.Contains(page, placeholder) {
			return nil, fmt.Errorf("web: index.html does not reference %s", placeholder)
		}
		page = bytes.ReplaceAll(page, placeholder, []byte(p))
		h.files[p] = newAsset(b, f.contentType, true)
	}
	h.files["/"] = newAsset(page, "text/html; charset=utf-8", false)
	return h, nil
}

func newAsset(b []byte, contentType string, immutable bool) *asset {
	sum := sha256.Sum256(b)
	a := &asset{body: b, contentType: contentType, immutable: immutable,
		etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b) // into a bytes.Buffer: cannot fail
	_ = zw.Close()
	if buf.Len() < len(b) {
		a.gz = buf.Bytes()
	}
	return a
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.files[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "no such page: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("X-Content-Type-Options", "nosniff")
	if a.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// The page must be revalidated so a new binary's assets are picked up.
		hd.Set("Cache-Control", "no-cache")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "+
			"style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; "+
			"form-action 'self'; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
	}
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// writeError writes the API's error body, so every error from the binary has
// one shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Write(append(b, '\n'))
}
