package sqlite_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/sqlite"
)

// BenchmarkCreateEventsLoaded stores batches of 10,000 new events into a
// store that already holds TALLY_BENCH_LOADED events (a comma-separated
// list, default 0), with synchronous=full, in steady state. The preload runs
// with synchronous=normal; the store is then reopened, and that Open's time
// is logged with the load's rate. Besides events/s it reports the CPU time
// per event (user+system, the whole process), steadier than wall time on a
// shared machine, and the file's bytes per stored event. For the figures of
// the write-path change:
//
//	TALLY_BENCH_LOADED=0,1000000,2000000 go test ./sqlite -run '^$' -bench CreateEventsLoaded -benchtime 50x -benchmem
func BenchmarkCreateEventsLoaded(b *testing.B) {
	loaded := []int{0}
	if v := os.Getenv("TALLY_BENCH_LOADED"); v != "" {
		loaded = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("TALLY_BENCH_LOADED: %v", err)
			}
			loaded = append(loaded, n)
		}
	}
	for _, n := range loaded {
		b.Run("loaded="+strconv.Itoa(n), func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "tally.db")
			r := rand.New(rand.NewPCG(7, uint64(n)))
			const batch = 10_000
			s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for i := 0; i < n; i += batch {
				if _, err := s.CreateEvents(ctx, benchEvents(r, min(batch, n-i))); err != nil {
					b.Fatal(err)
				}
			}
			load := time.Since(start)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			s = mustOpen(b, path, sqlite.Options{Synchronous: "full"})
			if n > 0 {
				b.Logf("preloaded %d events at %.0f events/s; Open took %v", n, float64(n)/load.Seconds(),
					time.Since(start).Round(time.Millisecond))
			}

			var cpu time.Duration
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				events := benchEvents(r, batch)
				c0 := cpuTime(b)
				b.StartTimer()
				if _, err := s.CreateEvents(ctx, events); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime(b) - c0
				b.StartTimer()
			}
			total := b.N * batch
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/event")
			var size int64
			for _, suffix := range []string{"", "-wal"} {
				if fi, err := os.Stat(path + suffix); err == nil {
					size += fi.Size()
				}
			}
			b.ReportMetric(float64(size)/float64(n+total), "disk-B/event")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
