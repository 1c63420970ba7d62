package main

import (
	"path/filepath"
	"testing"

	"github.com/tallyhq/tally/internal/testbin"
	"github.com/tallyhq/tally/tools/crashtest"
)

// TestCrashSafety kills the real server ten times under load on one SQLite
// file, alternating full and normal sync: both survive a process crash, and
// raw events and rollups share every transaction, so verify must be clean
// with no repair.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary; skipped with -short")
	}
	crashtest.Run(t, crashtest.Options{
		Binary: testbin.Build(t),
		Store:  "sqlite:" + filepath.Join(t.TempDir(), "tally.db"),
		Sync:   func(cycle int) string { return []string{"full", "normal"}[cycle%2] },
		Exact:  true,
	})
}
