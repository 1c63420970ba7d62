package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/gen"
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

// newClient returns a client of the server at base whose pool keeps a
// connection per concurrent caller alive, so that no request pays for a
// handshake. It never resends: the benchmark counts what each request did.
func newClient(base string, conns int) (*client.Client, func(), error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.DisableCompression = true
	hc := &http.Client{Transport: t, Timeout: 5 * time.Minute}
	c, err := client.New(base, client.WithHTTPClient(hc), client.WithRetries(0, 0))
	return c, hc.CloseIdleConnections, err
}

// postBatches sends the first n events of g to POST /events in batches of
// size events from posters concurrent callers, spread over the servers at
// bases (poster i posts to bases[i % len(bases)]), and returns how long it
// took. Every event must be accepted: a duplicate or a rejection means the
// workload is not what the benchmark says, and is an error.
func postBatches(ctx context.Context, bases []string, g *gen.Generator, n, size, posters int) (time.Duration, error) {
	clients := make([]*client.Client, len(bases))
	for i, base := range bases {
		c, closeIdle, err := newClient(base, posters)
		if err != nil {
			return 0, err
		}
		defer closeIdle()
		clients[i] = c
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// A small pool of batches: the producer fills the next one while the
	// posters wait for the server.
	free := make(chan []tally.Event, posters+1)
	for range posters + 1 {
		free <- make([]tally.Event, size)
	}
	jobs := make(chan []tally.Event, posters)
	var wg sync.WaitGroup
	for i := range posters {
		c := clients[i%len(clients)]
		wg.Go(func() {
			for batch := range jobs {
				if ctx.Err() == nil {
					if err := postBatch(ctx, c, batch); err != nil {
						cancel(err)
					}
				}
				free <- batch[:cap(batch)]
			}
		})
	}

	start := time.Now()
	for sent := 0; sent < n && ctx.Err() == nil; {
		batch := <-free
		k := 0
		for ; k < size && sent+k < n && g.Next(&batch[k]); k++ {
		}
		if k == 0 {
			free <- batch
			break
		}
		sent += k
		jobs <- batch[:k]
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return elapsed, nil
}

func postBatch(ctx context.Context, c *client.Client, batch []tally.Event) error {
	a, err := c.CreateEvents(ctx, batch)
	if err != nil {
		return err
	}
	if a.Accepted != len(batch) {
		msg := ""
		if len(a.Rejected) > 0 {
			msg = fmt.Sprintf(" (event %d: %s)", a.Rejected[0].Index, a.Rejected[0].Message)
		}
		return fmt.Errorf("POST /events: %d of %d events accepted, %d duplicates, %d rejected%s",
			a.Accepted, len(batch), a.Duplicates, len(a.Rejected), msg)
	}
	return nil
}

// postSingles sends fresh events of g one per POST /event from clients
// concurrent keep-alive callers for d, and returns what was acknowledged,
// how long it took and each request's latency. Requests under way at the
// deadline are finished and counted.
func postSingles(ctx context.Context, base string, g *gen.Generator, clients int, d time.Duration) (int, time.Duration, []time.Duration, error) {
	c, closeIdle, err := newClient(base, clients)
	if err != nil {
		return 0, 0, nil, err
	}
	defer closeIdle()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var mu sync.Mutex // guards g
	next := func(e *tally.Event) bool {
		mu.Lock()
		defer mu.Unlock()
		return g.Next(e)
	}
	lat := make([][]time.Duration, clients)
	var acked atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			var e tally.Event
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if !next(&e) {
					cancel(fmt.Errorf("the generator ran out of events after %d", acked.Load()))
					return
				}
				t0 := time.Now()
				if _, err := c.CreateEvent(ctx, &e); err != nil {
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
