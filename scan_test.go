package tally_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tallyhq/tally"
)

func TestScanGate(t *testing.T) {
	errScan := errors.New("scan failed")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		limits   tally.ScanLimits
		ctx      context.Context
		scan     func(ctx context.Context) error
		wantCode string
	}{
		{name: "passes", scan: func(context.Context) error { return nil }},
		{name: "passes the scan's error", scan: func(context.Context) error { return errScan }, wantCode: tally.EInternal},
		{
			name:   "deadline",
			limits: tally.ScanLimits{Timeout: time.Millisecond},
			scan: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			},
			wantCode: tally.ETooExpensive,
		},
		{
			name: "the client's cancellation is not the deadline",
			ctx:  canceled,
			scan: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			},
			wantCode: tally.EInternal,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := tally.NewScanGate(tc.limits).Do(ctx, tc.scan)
			if got := tally.ErrorCode(err); got != tc.wantCode {
				t.Errorf("Do: code %q (%v), want %q", got, err, tc.wantCode)
			}
		})
	}
}

func TestScanGateCap(t *testing.T) {
	g := tally.NewScanGate(tally.ScanLimits{Max: 1})
	if g.Max() != 1 {
		t.Fatalf("Max() = %d, want 1", g.Max())
	}
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- g.Do(context.Background(), func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	ran := false
	err := g.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	if tally.ErrorCode(err) != tally.EUnavailable || ran {
		t.Errorf("second scan: ran %v, error %v; want EUnavailable without running", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first scan: %v", err)
	}
	if err := g.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Errorf("scan after the first ended: %v", err)
	}
}

func TestScanGateDefaults(t *testing.T) {
	if got := tally.NewScanGate(tally.ScanLimits{}).Max(); got != tally.DefaultMaxScans {
		t.Errorf("Max() = %d, want DefaultMaxScans %d", got, tally.DefaultMaxScans)
	}
}
