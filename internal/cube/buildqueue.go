package cube

import (
	"maps"
	"slices"
	"sync"
)

// BuildQueue runs a store's sub-day rollup builds one after another, each
// serving every projection asked for while the one before it ran: reports
// that need a rollup not built yet wait for it (within the scan timeout)
// rather than read raw events each, since a build costs one scan however
// many projections it fills, while every raw scan beside it would take the
// cores that writes need. Both stores schedule their builds with it; how a
// build scans is theirs. The zero value is ready.
type BuildQueue struct {
	mu       sync.Mutex
	waiting  map[SlotNeed]chan struct{} // for the next build
	inflight map[SlotNeed]chan struct{} // the running build's
	running  bool
	wg       sync.WaitGroup
}

// Await returns a channel closed once a build that includes need has run
// (built, refused as too large, or failed). Unless builds are running, it
// starts them: build is called with the needs gathered, again and again
// until no report waits. The builds outlive the requests that asked for
// them: they serve every later report.
func (b *BuildQueue) Await(need SlotNeed, build func(needs []SlotNeed)) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch := b.inflight[need]; ch != nil {
		return ch
	}
	if b.waiting == nil {
		b.waiting = make(map[SlotNeed]chan struct{})
	}
	ch := b.waiting[need]
	if ch == nil {
		ch = make(chan struct{})
		b.waiting[need] = ch
	}
	if !b.running {
		b.running = true
		b.wg.Add(1)
		go b.run(build)
	}
	return ch
}

func (b *BuildQueue) run(build func([]SlotNeed)) {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if len(b.waiting) == 0 {
			b.running, b.inflight = false, nil
			b.mu.Unlock()
			return
		}
		b.inflight, b.waiting = b.waiting, nil
		needs := slices.Collect(maps.Keys(b.inflight))
		b.mu.Unlock()

		build(needs)

		b.mu.Lock()
		for _, ch := range b.inflight {
			close(ch)
		}
		b.inflight = nil
		b.mu.Unlock()
	}
}

// Wait waits for the running builds to end: a store calls it on Close,
// after which no report asks for more.
func (b *BuildQueue) Wait() { b.wg.Wait() }
