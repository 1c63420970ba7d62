package tally_test

import (
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/tools/gen"
)

var genNow = time.Date(2026, 11, 3, 15, 4, 5, 0, time.UTC)

// generated returns the events of cfg.
func generated(tb testing.TB, cfg gen.Config) []tally.Event {
	tb.Helper()
	g, err := gen.New(cfg)
	if err != nil {
		tb.Fatalf("gen.New(%+v): %v", cfg, err)
	}
	var events []tally.Event
	var e tally.Event
	for g.Next(&e) {
		events = append(events, e)
	}
	return events
}

func TestAppendJSONExact(t *testing.T) {
	id, err := tally.ParseID("0A1B2C3D-4E5F-4a6b-8c7d-8E9FA0B1C2D3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		e    tally.Event
		want string
	}{
		{
			name: "all fields",
			e: tally.Event{ID: id, DeviceType: tally.DeviceMobile, Category: tally.CategoryOf(7), Client: 12,
				ClientGroup: 3, Timestamp: time.Date(2026, 11, 2, 13, 4, 5, 120_000_000, time.UTC), Valid: true, Value: tally.MustDecimal("47.25")},
			want: `{"id":"0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3","device_type":"mobile","category":7,"client":12,"client_group":3,"timestamp":"2026-11-02T13:04:05.12Z","valid":true,"value":47.25}`,
		},
		{
			name: "nulls, whole second, offset converted to UTC",
			e: tally.Event{ID: id, DeviceType: tally.DeviceNone, Category: tally.NoCategory, Client: -2147483648,
				ClientGroup: 2147483647, Timestamp: time.Date(2026, 11, 2, 14, 4, 5, 0, time.FixedZone("", 3600))},
			want: `{"id":"0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3","device_type":null,"category":null,"client":-2147483648,"client_group":2147483647,"timestamp":"2026-11-02T13:04:05Z","valid":false,"value":0}`,
		},
		{
			name: "large and tiny values",
			e: tally.Event{ID: id, DeviceType: tally.DeviceTablet, Category: tally.CategoryOf(0),
				Timestamp: time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), Value: tally.MaxValue.Neg()},
			want: `{"id":"0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3","device_type":"tablet","category":0,"client":0,"client_group":0,"timestamp":"1970-01-01T00:00:00.000001Z","valid":false,"value":-1000000000000000}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.e.AppendJSON(nil)); got != tc.want {
				t.Errorf("AppendJSON:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	events := generated(b, gen.Config{Days: 1, PerDay: 1000, Seed: 1, Now: genNow})
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = events[i%len(events)].AppendJSON(buf[:0])
	}
}
