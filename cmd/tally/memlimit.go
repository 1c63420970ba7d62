package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryLimit keeps the Go runtime's soft memory limit at the configured
// value while the live heap leaves room under it, and at the live heap plus
// headroom once it does not. The store's long-lived structures (the cube's
// cells and built sub-day rollups, the id filters) grow with the data: at
// 10M events, once reports have built their rollups, they are ~190 MB, and
// under a fixed limit of 200 MiB the collector ran every ~5 MB allocated,
// taking 32% of the CPU plus 9% for the scavenger, and bulk ingestion fell
// to 27% of an empty store's rate (tally bench, run of 19:19). With the
// limit at live + 64 MiB it was 59% (run of 18:45), for ~40 MB more RSS:
// the collector then runs once per 64 MiB allocated however large the
// store's structures grow.
type memoryLimit struct {
	floor, headroom int64
	live            func() int64      // the live heap after the last collection
	set             func(int64) int64 // debug.SetMemoryLimit
	current         int64
}

// newMemoryLimit sets the limit to floor at once.
func newMemoryLimit(floor int64) *memoryLimit {
	m := &memoryLimit{floor: floor, headroom: 64 << 20, live: liveHeap, set: debug.SetMemoryLimit}
	m.current = floor
	m.set(floor)
	return m
}

// adjust sets the limit the live heap calls for, and reports the new limit
// when it changed.
func (m *memoryLimit) adjust() (int64, bool) {
	want := max(m.floor, m.live()+m.headroom)
	if want == m.current {
		return want, false
	}
	m.current = want
	m.set(want)
	return want, true
}

// follow adjusts the limit every interval until ctx ends.
func (m *memoryLimit) follow(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if limit, changed := m.adjust(); changed {
				log.Debug("memory limit", "bytes", limit, "above_configured", limit > m.floor)
			}
		}
	}
}

func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
