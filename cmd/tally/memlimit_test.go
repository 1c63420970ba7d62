package main

import (
	"runtime"
	"testing"
)

// The limit stays at the configured value while the live heap leaves the
// headroom under it, follows the live heap above that, and comes back
// down when the heap does.
func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	const mib = 1 << 20
	var live, set int64
	m := &memoryLimit{floor: 200 * mib, headroom: 64 * mib, current: 200 * mib,
		live: func() int64 { return live }, set: func(n int64) int64 { set = n; return 0 }}
	for _, step := range []struct {
		live, want int64
		changed    bool
	}{
		{100 * mib, 200 * mib, false},
		{136 * mib, 200 * mib, false},
		{180 * mib, 244 * mib, true},
		{230 * mib, 294 * mib, true},
		{230 * mib, 294 * mib, false},
		{120 * mib, 200 * mib, true},
	} {
		live = step.live
		got, changed := m.adjust()
		if got != step.want || changed != step.changed {
			t.Fatalf("live %d MiB: limit %d MiB (changed %v), want %d MiB (%v)", step.live/mib, got/mib, changed, step.want/mib, step.changed)
		}
		if changed && set != step.want {
			t.Fatalf("live %d MiB: set %d MiB, want %d MiB", step.live/mib, set/mib, step.want/mib)
		}
	}
}

// The runtime reports the live heap, so the limit can follow it.
func TestLiveHeapRead(t *testing.T) {
	keep := make([]byte, 8<<20)
	runtime.GC()
	if n := liveHeap(); n < int64(len(keep)) {
		t.Errorf("live heap %d bytes, want at least the %d held", n, len(keep))
	}
	keep[0] = 1
}
