// Package crashtest is the crash-safety check every store runs through the
// real binary: it starts tally serve on a store, drives concurrent single
// and bulk creates and deletes, kills the process with SIGKILL at random
// moments, restarts it, and checks that every acknowledged event is there,
// no deleted one is back, and the rollups equal a recomputation from the raw
// events (after tally repair, for a store without transactions).
package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/gen"
	"github.com/tallyhq/tally/tools/proc"
)

// Options describe one crash test.
type Options struct {
	Binary string // the tally command (see internal/testbin)
	Store  string // the --store setting
	Cycles int    // kills; at least 10 for the contract's check
	// Sync returns the --sync mode for a cycle ("" for the default).
	Sync  func(cycle int) string
	Batch int // events per bulk request
	// Exact says the store keeps raw events and rollups in one
	// transaction, so verify must pass with no repair. Otherwise a crash
	// between the two writes may leave cells off, which verify must find
	// and repair must mend.
	Exact bool
	// Run bounds how long the server runs before each kill (a random time
	// up to it, at least a fifth of it).
	Run time.Duration
}

// Result counts what the run checked.
type Result struct {
	Acked, Deleted, InDoubt, Drifted int
}

// ledger records what the server acknowledged, and what it may or may not
// have done when the answer never came.
type ledger struct {
	mu       sync.Mutex
	acked    map[tally.ID]bool // 201, or accepted in a bulk answer
	order    []tally.ID        // acked, in the order acknowledged
	deleted  map[tally.ID]bool // 204
	inDoubt  map[tally.ID]bool // the process died before answering
	rejected int
}

func (l *ledger) mark(m map[tally.ID]bool, ids ...tally.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		m[id] = true
	}
}

func (l *ledger) ack(ids ...tally.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.acked[id] = true
	}
	l.order = append(l.order, ids...)
}

// drive sends single creates, bulk creates and deletes from several workers
// until stop is closed.
func drive(base string, l *ledger, g *gen.Generator, stop <-chan struct{}, seed uint64, batch int) {
	// No resends: a batch whose answer never came is in doubt, which is
	// what the ledger is to record.
	c, err := client.New(base, client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}), client.WithRetries(0, 0))
	if err != nil {
		panic(err) // the URL of a server the test started
	}
	ctx := context.Background()
	var genMu sync.Mutex
	next := func(n int) []tally.Event {
		genMu.Lock()
		defer genMu.Unlock()
		out := make([]tally.Event, n)
		for i := range out {
			g.Next(&out[i])
		}
		return out
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch r := rng.IntN(10); {
				case r < 6: // one event
					e := next(1)
					_, err := c.CreateEvent(ctx, &e[0])
					if noAnswer(err) {
						l.mark(l.inDoubt, e[0].ID)
						return // the server is gone
					}
					if err == nil {
						l.ack(e[0].ID)
					}
				case r < 8: // a batch
					es := next(batch)
					ids := make([]tally.ID, len(es))
					for i := range es {
						ids[i] = es[i].ID
					}
					res, err := c.CreateEvents(ctx, es)
					switch {
					case noAnswer(err):
						l.mark(l.inDoubt, ids...)
						return
					case status(err) == http.StatusNotFound || status(err) == http.StatusMethodNotAllowed:
						// No bulk endpoint in this build: single events only.
					case err == nil && res.Accepted == len(ids):
						l.ack(ids...)
					default:
						l.mu.Lock()
						l.rejected++
						l.mu.Unlock()
					}
				default: // delete an acknowledged event
					l.mu.Lock()
					var id tally.ID
					var ok bool
					if len(l.order) > 0 {
						id = l.order[rng.IntN(len(l.order))]
						ok = !l.deleted[id] && !l.inDoubt[id]
					}
					if ok {
						l.inDoubt[id] = true // until the answer comes
					}
					l.mu.Unlock()
					if !ok {
						continue
					}
					err := c.DeleteEvent(ctx, id)
					if noAnswer(err) {
						return
					}
					l.mu.Lock()
					if err == nil {
						l.deleted[id] = true
						delete(l.inDoubt, id)
					}
					l.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

// status is the HTTP status of an answer that err stands for: 0 for
// success and for no answer.
func status(err error) int {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

// noAnswer reports whether err is a request that got no answer.
func noAnswer(err error) bool { return err != nil && status(err) == 0 }

// Run runs the crash test and returns what it checked.
func Run(t *testing.T, o Options) Result {
	t.Helper()
	if o.Cycles == 0 {
		o.Cycles = 10
	}
	if o.Batch == 0 {
		o.Batch = 50
	}
	if o.Run == 0 {
		o.Run = time.Second
	}
	seed := rand.Uint64()
	t.Logf("crash test seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	g, err := gen.New(gen.Config{Days: 30, PerDay: 1_000_000, Seed: int64(seed >> 1), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	bin := o.Binary
	start := func(cycle int) *proc.Server {
		t.Helper()
		sync := ""
		if o.Sync != nil {
			sync = o.Sync(cycle)
		}
		logPath := filepath.Join(t.TempDir(), fmt.Sprintf("serve-%d.log", cycle))
		s, err := proc.Start(t.Context(), bin, o.Store, sync, logPath)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	l := &ledger{acked: map[tally.ID]bool{}, deleted: map[tally.ID]bool{}, inDoubt: map[tally.ID]bool{}}
	checked := 0
	for cycle := range o.Cycles {
		s := start(cycle)
		checkLedger(t, s, l, cycle, checked, false, rng)
		checked = len(l.order)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { drive(s.URL, l, g, stop, seed+uint64(cycle), o.Batch); close(done) }()
		time.Sleep(o.Run/5 + time.Duration(rng.Int64N(int64(o.Run*4/5))))
		s.Kill()
		close(stop)
		<-done
	}
	s := start(o.Cycles)
	checkLedger(t, s, l, o.Cycles, checked, true, rng)
	if err := s.Stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	res := Result{Acked: len(l.acked), Deleted: len(l.deleted), InDoubt: len(l.inDoubt)}
	out, err := exec.Command(bin, "verify", "--store", o.Store).CombinedOutput()
	switch {
	case err == nil:
	case o.Exact:
		t.Errorf("tally verify after %d crashes: %v\n%s", o.Cycles, err, out)
	default:
		res.Drifted = strings.Count(string(out), "\n") - 2 // the header and the summary
		if out, err := exec.Command(bin, "repair", "--store", o.Store).CombinedOutput(); err != nil {
			t.Fatalf("tally repair: %v\n%s", err, out)
		}
		if out, err := exec.Command(bin, "verify", "--store", o.Store).CombinedOutput(); err != nil {
			t.Errorf("tally verify after repair: %v\n%s", err, out)
		}
	}
	t.Logf("%d crashes survived: %d events acknowledged, %d deleted, %d in doubt, %d cells repaired",
		o.Cycles, res.Acked, res.Deleted, res.InDoubt, res.Drifted)
	if res.Acked == 0 {
		t.Error("no write was acknowledged: the test checked nothing")
	}
	return res
}

// checkLedger checks a freshly started server against what the previous
// ones acknowledged: every event acknowledged since the last check (those
// closest to the crash), every deleted one, and a sample of older ones; or
// everything, when all is set.
func checkLedger(t *testing.T, s *proc.Server, l *ledger, cycle int, since int, all bool, rng *rand.Rand) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := slices.Clone(l.order[since:])
	if all {
		ids = slices.Clone(l.order)
	} else {
		for range min(since, 1000) {
			ids = append(ids, l.order[rng.IntN(since)])
		}
		for id := range l.deleted {
			ids = append(ids, id)
		}
	}
	c, err := client.New(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lost, back []string
	var wg sync.WaitGroup
	work := make(chan tally.ID)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				_, err := c.GetEvent(t.Context(), id)
				code := status(err)
				if err == nil {
					code = http.StatusOK
				}
				mu.Lock()
				switch {
				case l.inDoubt[id]:
				case l.deleted[id] && code != http.StatusNotFound:
					back = append(back, id.String())
				case !l.deleted[id] && code != http.StatusOK:
					lost = append(lost, fmt.Sprintf("%s (%d)", id, code))
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	if len(lost) > 0 || len(back) > 0 {
		t.Fatalf("after crash %d: %d acknowledged events lost %v; %d deleted events back %v\n%s",
			cycle, len(lost), head(lost), len(back), head(back), s.LogTail())
	}
}

func head(s []string) string {
	if len(s) > 5 {
		s = s[:5]
	}
	return strings.Join(s, ", ")
}
