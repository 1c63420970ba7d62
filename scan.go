package tally

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of ScanLimits, chosen for a 2-core machine. A raw scan keeps one
// core busy; four at once share two cores and still hold the rest of the
// service to a small share, while the load test's local-hour reports
// (about four at once under its default mix) are not refused. Thirty
// seconds is a fraction of the server's default write timeout (2m), so
// the refusal still reaches the client.
const (
	DefaultScanTimeout = 30 * time.Second
	DefaultMaxScans    = 4
)

// ScanLimits bound the reports a store answers by reading raw events rather
// than rollup cells (those that are not ReportQuery.InUTCDays): their cost
// grows with the events in range, without limit.
type ScanLimits struct {
	// Timeout bounds one scan; 0 means DefaultScanTimeout.
	Timeout time.Duration
	// Max is how many scans may run at once; 0 means DefaultMaxScans.
	Max int
	// Started, when set, is called by each admitted scan with its context
	// before it reads anything. Tests use it to hold a scan in progress.
	Started func(ctx context.Context)
}

// ScanGate enforces ScanLimits. Every store runs its raw-event scans
// through one, so that both stores refuse and stop them alike.
type ScanGate struct {
	slots   chan struct{}
	timeout time.Duration
	started func(context.Context)
}

// NewScanGate returns a gate for l; zero fields take their defaults.
func NewScanGate(l ScanLimits) *ScanGate {
	if l.Timeout <= 0 {
		l.Timeout = DefaultScanTimeout
	}
	if l.Max <= 0 {
		l.Max = DefaultMaxScans
	}
	return &ScanGate{slots: make(chan struct{}, l.Max), timeout: l.Timeout, started: l.Started}
}

// Max is how many scans may run at once.
func (g *ScanGate) Max() int { return cap(g.slots) }

// errScanTimeout is the cause of a scan's context when its deadline passes.
var errScanTimeout = errors.New("scan deadline passed")

// Do runs scan with a context bounded by the gate's timeout. It returns an
// EUnavailable error at once, without running scan, when Max scans are
// already running, and an ETooExpensive error when the timeout passes
// before scan returns.
func (g *ScanGate) Do(ctx context.Context, scan func(ctx context.Context) error) error {
	select {
	case g.slots <- struct{}{}:
	default:
		return Errorf(EUnavailable, "too many reports over raw events in progress (at most %d); "+
			"retry later, or ask for UTC days (tz=UTC, granularity day, week or month), which are answered from rollups",
			g.Max())
	}
	defer func() { <-g.slots }()
	sctx, cancel := context.WithTimeoutCause(ctx, g.timeout, errScanTimeout)
	defer cancel()
	if g.started != nil {
		g.started(sctx)
	}
	err := scan(sctx)
	if err != nil && errors.Is(context.Cause(sctx), errScanTimeout) {
		return fmt.Errorf("%w: %w", Errorf(ETooExpensive,
			"report stopped after %s: with hour buckets, a zone other than UTC or bounds not at UTC midnight it reads every raw event in range; "+
				"narrow it: a shorter date range (start_date, end_date), UTC day buckets (tz=UTC, granularity day, week or month, answered from rollups), "+
				"or fewer group_by dimensions and more filters", g.timeout), err)
	}
	return err
}

// Wait waits, within the gate's timeout, for done: the end of work shared
// by many reports (such as building a rollup that answers them), which is
// not itself stopped when one report gives up. Past the timeout it
// returns an EUnavailable error that says to retry: the work goes on, and
// the same report then answers quickly.
func (g *ScanGate) Wait(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a rollup: %w", ctx.Err())
	case <-t.C:
		return Errorf(EUnavailable, "the rollup that answers this report is still being built from the raw events (it took longer than %s); "+
			"retry in a little while: once built it answers in milliseconds", g.timeout)
	}
}
