package api_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// openStore opens a real SQLite store in a temporary directory, closed when
// the test ends.
func openStore(tb testing.TB) tally.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "tally.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
