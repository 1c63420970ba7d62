package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally"
)

// InstrumentStore returns s with the time of every call recorded on reg,
// by method and outcome: the latency the handlers see, the same for every
// store. It adds nothing else: errors and results pass through unchanged.
// What happens inside a store (its writer's commits) is the store's to
// measure; see sqlite.Store and mongo.Store.
func InstrumentStore(s tally.Store, reg prometheus.Registerer) (tally.Store, error) {
	calls := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tally_store_call_duration_seconds",
		Help:    "Time of Store calls, by method and outcome (ok or the error code).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "code"})
	if err := reg.Register(calls); err != nil {
		return nil, fmt.Errorf("register store call metrics: %w", err)
	}
	return &instrumentedStore{s: s, calls: calls}, nil
}

type instrumentedStore struct {
	s     tally.Store
	calls *prometheus.HistogramVec
}

var _ tally.Store = (*instrumentedStore)(nil)

func (i *instrumentedStore) observe(method string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = tally.ErrorCode(err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			code = "canceled"
		}
	}
	i.calls.WithLabelValues(method, code).Observe(time.Since(start).Seconds())
}

func (i *instrumentedStore) CreateEvent(ctx context.Context, e tally.Event) (err error) {
	defer func(start time.Time) { i.observe("CreateEvent", start, err) }(time.Now())
	return i.s.CreateEvent(ctx, e)
}

func (i *instrumentedStore) CreateEvents(ctx context.Context, events []tally.Event) (_ []bool, err error) {
	defer func(start time.Time) { i.observe("CreateEvents", start, err) }(time.Now())
	return i.s.CreateEvents(ctx, events)
}

func (i *instrumentedStore) Event(ctx context.Context, id tally.ID) (_ tally.Event, err error) {
	defer func(start time.Time) { i.observe("Event", start, err) }(time.Now())
	return i.s.Event(ctx, id)
}

func (i *instrumentedStore) DeleteEvent(ctx context.Context, id tally.ID) (err error) {
	defer func(start time.Time) { i.observe("DeleteEvent", start, err) }(time.Now())
	return i.s.DeleteEvent(ctx, id)
}

func (i *instrumentedStore) DeleteEvents(ctx context.Context, f tally.Filter) (_ int64, err error) {
	defer func(start time.Time) { i.observe("DeleteEvents", start, err) }(time.Now())
	return i.s.DeleteEvents(ctx, f)
}

func (i *instrumentedStore) Report(ctx context.Context, q tally.ReportQuery) (_ tally.Report, err error) {
	defer func(start time.Time) { i.observe("Report", start, err) }(time.Now())
	return i.s.Report(ctx, q)
}

func (i *instrumentedStore) Ping(ctx context.Context) (err error) {
	defer func(start time.Time) { i.observe("Ping", start, err) }(time.Now())
	return i.s.Ping(ctx)
}

// Close is not timed: it happens once.
func (i *instrumentedStore) Close() error { return i.s.Close() }
