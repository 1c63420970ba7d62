package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/gen"
)

// Ingest is what one server took in.
type Ingest struct {
	SingleEvents int           // events acknowledged by POST /event
	SingleTime   time.Duration // how long the clients sent them
	Single       Latencies     // per-request latency
	BulkEvents   int           // events sent through POST /events
	BulkTime     time.Duration
}

// SingleRate and BulkRate are in events per second.
func (in Ingest) SingleRate() float64 { return rate(in.SingleEvents, in.SingleTime) }
func (in Ingest) BulkRate() float64   { return rate(in.BulkEvents, in.BulkTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// newClient returns an HTTP client whose pool keeps a connection per
// concurrent caller alive, so that no request pays for a handshake.
func newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}

// postBatches sends the first n events of g to POST /events in batches of
// size events from posters concurrent callers, and returns how long it took.
// Every event must be accepted: a duplicate or a rejection means the
// workload is not what the benchmark says, and is an error.
func postBatches(ctx context.Context, base string, g *gen.Generator, n, size, posters int) (time.Duration, error) {
	client := newClient(posters)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	type job struct {
		body []byte
		n    int
	}
	// A small pool of bodies: the producer writes the next batch while the
	// posters wait for the server.
	free := make(chan []byte, posters+1)
	for range posters + 1 {
		free <- nil
	}
	jobs := make(chan job, posters)
	var wg sync.WaitGroup
	for range posters {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() == nil {
					if err := postBatch(ctx, client, base+"/events", j.body, j.n); err != nil {
						cancel(err)
					}
				}
				free <- j.body
			}
		})
	}

	start := time.Now()
	var e tally.Event
	for sent := 0; sent < n && ctx.Err() == nil; {
		body := <-free
		body = append(body[:0], '[')
		k := 0
		for ; k < size && sent+k < n && g.Next(&e); k++ {
			if k > 0 {
				body = append(body, ',')
			}
			body = e.AppendJSON(body)
		}
		if k == 0 {
			free <- body
			break
		}
		body = append(body, ']')
		sent += k
		jobs <- job{body, k}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return elapsed, nil
}

// bulkAnswer is the body of a 200 from POST /events.
type bulkAnswer struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index   int    `json:"index"`
		Message string `json:"message"`
	} `json:"rejected"`
}

func postBatch(ctx context.Context, client *http.Client, url string, body []byte, n int) error {
	answer, err := post(ctx, client, url, "POST /events", body, http.StatusOK)
	if err != nil {
		return err
	}
	var a bulkAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return fmt.Errorf("POST /events: decoding the answer: %w", err)
	}
	if a.Accepted != n {
		msg := ""
		if len(a.Rejected) > 0 {
			msg = fmt.Sprintf(" (event %d: %s)", a.Rejected[0].Index, a.Rejected[0].Message)
		}
		return fmt.Errorf("POST /events: %d of %d events accepted, %d duplicates, %d rejected%s",
			a.Accepted, n, a.Duplicates, len(a.Rejected), msg)
	}
	return nil
}

// postSingles sends fresh events of g one per POST /event from clients
// concurrent keep-alive callers for d, and returns what was acknowledged,
// how long it took and each request's latency. Requests under way at the
// deadline are finished and counted.
func postSingles(ctx context.Context, base string, g *gen.Generator, clients int, d time.Duration) (int, time.Duration, []time.Duration, error) {
	client := newClient(clients)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var mu sync.Mutex // guards g
	next := func(dst []byte) ([]byte, bool) {
		var e tally.Event
		mu.Lock()
		ok := g.Next(&e)
		mu.Unlock()
		return e.AppendJSON(dst[:0]), ok
	}
	url := base + "/event"
	lat := make([][]time.Duration, clients)
	var acked atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			var body []byte
			var ok bool
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if body, ok = next(body); !ok {
					cancel(fmt.Errorf("the generator ran out of events after %d", acked.Load()))
					return
				}
				t0 := time.Now()
				if err := postEvent(ctx, client, url, body); err != nil {
					cancel(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return 0, 0, nil, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return int(acked.Load()), elapsed, all, nil
}

func postEvent(ctx context.Context, client *http.Client, url string, body []byte) error {
	_, err := post(ctx, client, url, "POST /event", body, http.StatusCreated)
	return err
}

// post sends a JSON body and returns the answer's body, or an error naming
// what (e.g. "POST /events") unless the status is want.
func post(ctx context.Context, client *http.Client, url, what string, body []byte, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s: %s: %s", what, resp.Status, short(answer))
	}
	return answer, nil
}

// short returns the start of an answer, for error messages.
func short(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
