package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tallyhq/tally"
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

// BenchmarkCreateEventsBatch measures POST /events with 10,000 fresh events
// per request through the whole handler and the store's durable write,
// without the network: the end-to-end bulk ingestion rate of one client.
func BenchmarkCreateEventsBatch(b *testing.B) {
	h, err := api.NewHandler(api.Config{Store: openStore(b)})
	if err != nil {
		b.Fatal(err)
	}
	const n = 10000
	items := make([]string, n)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range items {
			items[i] = event(map[string]any{"id": tally.NewID().String(), "client": i % 1000, "timestamp": fmt.Sprintf("2026-11-%02dT13:04:05.123Z", 1+i%28)})
		}
		body := "[" + strings.Join(items, ",") + "]"
		b.StartTimer()
		req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), `{"accepted":10000,`) {
			b.Fatalf("status %d: %.300s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
