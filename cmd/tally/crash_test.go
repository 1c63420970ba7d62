package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/gen"
)

// buildTally builds the real binary once per test run.
var buildTally = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tally-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tally")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// process is a tally serve running as a child process.
type process struct {
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	bin, err := buildTally()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
			if !bytes.Contains(line, []byte(`"msg":"request"`)) {
				_, _ = p.logs.Write(append(line, '\n'))
			}
		}
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("server did not start:\n%s", p.logs)
	}
	return p
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
func drive(p *process, l *ledger, g *gen.Generator, stop <-chan struct{}, seed uint64) {
	client := &http.Client{Timeout: 10 * time.Second}
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
					body := gen.AppendJSON(nil, &e[0])
					resp, err := client.Post(p.base+"/event", "application/json", bytes.NewReader(body))
					if err != nil {
						l.mark(l.inDoubt, e[0].ID)
						return // the server is gone
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						l.ack(e[0].ID)
					}
				case r < 8: // a batch
					es := next(50)
					body := []byte{'['}
					ids := make([]tally.ID, len(es))
					for i := range es {
						if i > 0 {
							body = append(body, ',')
						}
						body = gen.AppendJSON(body, &es[i])
						ids[i] = es[i].ID
					}
					body = append(body, ']')
					resp, err := client.Post(p.base+"/events", "application/json", bytes.NewReader(body))
					if err != nil {
						l.mark(l.inDoubt, ids...)
						return
					}
					var res struct{ Accepted int }
					err = json.NewDecoder(resp.Body).Decode(&res)
					resp.Body.Close()
					switch {
					case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
						// No bulk endpoint in this build: single events only.
					case err == nil && resp.StatusCode == http.StatusOK && res.Accepted == len(ids):
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
					req, _ := http.NewRequest(http.MethodDelete, p.base+"/event/"+id.String(), nil)
					resp, err := client.Do(req)
					if err != nil {
						return
					}
					resp.Body.Close()
					l.mu.Lock()
					if resp.StatusCode == http.StatusNoContent {
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

// TestCrashSafety kills the real server with SIGKILL at random moments
// under concurrent single and bulk writes and deletes, restarts it, and
// checks that no acknowledged event is lost, no deleted one is back, and
// the rollups still equal a recomputation from the raw events.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary; skipped with -short")
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "tally.db")
	g, err := gen.New(gen.Config{Days: 30, PerDay: 1_000_000, Seed: int64(seed >> 1), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{acked: map[tally.ID]bool{}, deleted: map[tally.ID]bool{}, inDoubt: map[tally.ID]bool{}}
	const cycles = 10
	checked := 0
	for cycle := range cycles {
		mode := []string{"full", "normal"}[cycle%2]
		p := startProcess(t, "--store", store, "--sync", mode)
		checkLedger(t, p, l, cycle, checked, false, rng)
		checked = len(l.order)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { drive(p, l, g, stop, seed+uint64(cycle)); close(done) }()
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		close(stop)
		<-done
	}
	p := startProcess(t, "--store", store)
	checkLedger(t, p, l, cycles, checked, true, rng)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v\n%s", err, p.logs)
	}
	out, err := exec.Command(must(buildTally()), "verify", "--store", store).CombinedOutput()
	if err != nil {
		t.Errorf("tally verify after %d crashes: %v\n%s", cycles, err, out)
	}
	t.Logf("%d crashes survived: %d events acknowledged, %d deleted, %d in doubt, %d bulk answers not fully accepted",
		cycles, len(l.acked), len(l.deleted), len(l.inDoubt), l.rejected)
	if len(l.acked) == 0 {
		t.Error("no write was acknowledged: the test checked nothing")
	}
}

// checkLedger checks a freshly started server against what the previous
// ones acknowledged: every event acknowledged since the last check (those
// closest to the crash), every deleted one, and a sample of older ones; or
// everything, when all is set.
func checkLedger(t *testing.T, p *process, l *ledger, cycle int, since int, all bool, rng *rand.Rand) {
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
	var mu sync.Mutex
	var lost, back []string
	var wg sync.WaitGroup
	work := make(chan tally.ID)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				code := getStatus(p.base + "/event/" + id.String())
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
			cycle, len(lost), head(lost), len(back), head(back), p.logs)
	}
}

func getStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func head(s []string) string {
	if len(s) > 5 {
		s = s[:5]
	}
	return strings.Join(s, ", ")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
