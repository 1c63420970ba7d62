package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallyhq/tally"
)

// TestLookupsHaveTheirOwnPool: with every connection of the report pool
// taken (reports scanning raw events), Ping and Event still answer.
func TestLookupsHaveTheirOwnPool(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "tally.db"), Options{Synchronous: "normal"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := tally.Event{ID: tally.NewID(), Client: 1, ClientGroup: 1, Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Valid: true, Value: tally.DecimalFromInt(1)}
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	for range s.read.Stats().MaxOpenConnections {
		c, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatalf("take a report connection: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	// Only a guard: a lookup waiting for a report connection would wait
	// until a scan ends, here never.
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Ping(gctx); err != nil {
		t.Errorf("Ping with the report pool taken: %v", err)
	}
	if _, err := s.Event(gctx, e.ID); err != nil {
		t.Errorf("Event with the report pool taken: %v", err)
	}
}
