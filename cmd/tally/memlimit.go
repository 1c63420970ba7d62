package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryLimit keeps the Go runtime's soft memory limit at the configured
// value while the live heap is under it, and at the live heap plus
// headroom once it is not. The store's long-lived structures (the cube's
// cells, the id filters) grow with the data: at 30M events they alone are
// larger than the default 200 MiB, and a fixed limit below the live heap
// makes the collector run back to back, taking up to half the CPU from
// every request. Above the configured value the heap then grows by the
// headroom between collections instead of doubling. Below it the limit
// does not move: following the live heap from further down (live +
// headroom once that passed the limit) let the heap grow with the
// requests in flight during a bulk load and raised peak RSS at 10M
// events from ~305 to 363 MiB (BENCHMARKS.md, run of 18:45).
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
	want := m.floor
	if live := m.live(); live > m.floor {
		want = live + m.headroom
	}
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
