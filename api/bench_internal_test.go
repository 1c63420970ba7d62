package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tallyhq/tally"
)

// batchBody is a batch of n valid events like the generator's: random ids,
// device types, categories, clients and timestamps.
func batchBody(n int, ndjson bool) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	devices := []string{`"desktop"`, `"mobile"`, `"tablet"`, `null`}
	var b bytes.Buffer
	if !ndjson {
		b.WriteByte('[')
	}
	for i := range n {
		if i > 0 && !ndjson {
			b.WriteByte(',')
		}
		category := "null"
		if rng.IntN(5) > 0 {
			category = fmt.Sprint(rng.IntN(50))
		}
		fmt.Fprintf(&b, `{"id":%q,"device_type":%s,"category":%s,"client":%d,"client_group":%d,"timestamp":"2026-%02d-%02dT%02d:%02d:%02d.%03dZ","valid":%t,"value":%.2f}`,
			tally.NewID().String(), devices[rng.IntN(4)], category, rng.IntN(10000), rng.IntN(100),
			1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000),
			rng.IntN(2) == 0, rng.Float64()*1000)
		if ndjson {
			b.WriteByte('\n')
		}
	}
	if !ndjson {
		b.WriteByte(']')
	}
	return b.Bytes()
}

// BenchmarkDecodeEvents measures decoding and validating a 10,000-event
// batch: the derived decoder on a JSON array and on NDJSON, and, for
// comparison, kin-openapi's schema walk over each event decoded into a
// map[string]any followed by the former encoding/json decoder.
func BenchmarkDecodeEvents(b *testing.B) {
	const n = 10000
	s := mustServer(b)
	s.maxBatchEvents, s.maxBatchBytes = n, 10<<20
	s.newID = tally.NewID
	for _, ndjson := range []bool{false, true} {
		name := "derived/array"
		if ndjson {
			name = "derived/ndjson"
		}
		body := batchBody(n, ndjson)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				bt, err := s.decodeBatch(body, ndjson)
				if err != nil || len(bt.events) != n {
					b.Fatalf("%v, %d events", err, len(bt.events))
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	body := batchBody(n, false)
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		b.Fatal(err)
	}
	schema := s.spec.doc.Components.Schemas["EventInput"].Value
	b.Run("kin-openapi+encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var raw []json.RawMessage
			if err := json.Unmarshal(body, &raw); err != nil {
				b.Fatal(err)
			}
			for _, item := range raw {
				dec := json.NewDecoder(bytes.NewReader(item))
				dec.UseNumber()
				var v any
				if err := dec.Decode(&v); err != nil {
					b.Fatal(err)
				}
				if err := schema.VisitJSON(v); err != nil {
					b.Fatal(err)
				}
				if _, _, err := decodeEvent(item); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkDecodeEvent compares the two ways of judging one POST /event
// body: the derived decoder and kin-openapi's request validation followed
// by encoding/json.
func BenchmarkDecodeEvent(b *testing.B) {
	s := mustServer(b)
	body := []byte(`{"id":"3f2c1a9e-5b7d-4c8e-9f01-23456789abcd","device_type":"mobile","category":7,"client":412,"client_group":3,"timestamp":"2026-11-02T13:04:05.123Z","valid":true,"value":47.5}`)
	b.Run("derived", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.decodeOne(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kin-openapi+encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := referenceDecode(s, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
