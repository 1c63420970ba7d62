package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tallyhq/tally/api"
)

// BenchmarkCreateEvent measures POST /event through the whole handler
// (middleware, negotiation, validation against the document, decoding, the
// store's durable insert, the answer), without the network.
func BenchmarkCreateEvent(b *testing.B) {
	h, err := api.NewHandler(api.Config{Store: openStore(b)})
	if err != nil {
		b.Fatal(err)
	}
	body := event(nil) // no id: each insert gets a fresh one
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/event", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkCreateEventParallel is the same with concurrent clients, whose
// inserts the store may commit together.
func BenchmarkCreateEventParallel(b *testing.B) {
	h, err := api.NewHandler(api.Config{Store: openStore(b)})
	if err != nil {
		b.Fatal(err)
	}
	body := event(nil)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/event", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
