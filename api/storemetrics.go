package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally"
)

// StoreMetrics records how the store behaves: the latency of each Store
// method (through Instrument) and the size and duration of the write
// transactions a group-committing store reports (through ObserveCommit).
type StoreMetrics struct {
	calls      *prometheus.HistogramVec
	commitSize prometheus.Histogram
	commitTime prometheus.Histogram
}

// NewStoreMetrics registers the store metrics on reg.
func NewStoreMetrics(reg prometheus.Registerer) (*StoreMetrics, error) {
	m := &StoreMetrics{
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tally_store_call_duration_seconds",
			Help:    "Time of Store calls, by method and outcome (ok or the error code).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "code"}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tally_store_commit_callers",
			Help:    "Callers whose writes shared one transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tally_store_commit_duration_seconds",
			Help:    "Time of write transactions, sync included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.commitSize, m.commitTime} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register store metrics: %w", err)
		}
	}
	return m, nil
}

// ObserveCommit records one write transaction. Its signature is that of
// sqlite.Options.CommitObserver.
func (m *StoreMetrics) ObserveCommit(callers int, d time.Duration) {
	m.commitSize.Observe(float64(callers))
	m.commitTime.Observe(d.Seconds())
}

// Instrument returns s with every call timed. It adds nothing else: errors
// and results pass through unchanged.
func (m *StoreMetrics) Instrument(s tally.Store) tally.Store {
	return &instrumentedStore{s: s, m: m}
}

type instrumentedStore struct {
	s tally.Store
	m *StoreMetrics
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
	i.m.calls.WithLabelValues(method, code).Observe(time.Since(start).Seconds())
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
