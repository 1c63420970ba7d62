// Package testbin builds the tally binary for the tests that run it as a
// separate process (crash tests, the benchmark and load harnesses, the
// file lock).
package testbin

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds the tally command of the module that holds the calling
// test's package into a directory of tb's, removed when tb ends, and
// returns its path. The build cache makes every build after the first
// of a test run a link only.
func Build(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), "tally")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tally")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/tally: %v\n%s", err, out)
	}
	return bin
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the directory holding cmd/tally.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "tally", "main.go")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cmd/tally not found above the working directory")
		}
		dir = parent
	}
}
