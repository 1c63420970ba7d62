package sqlite_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// lines is an io.Writer that passes each write (one log record) on a
// channel, so that a test can wait for a record without polling or sleeping.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// find returns the first record that contains want, or false once the
// channel is closed without one.
func (l lines) find(want string) (string, bool) {
	for line := range l {
		if strings.Contains(line, want) {
			return line, true
		}
	}
	return "", false
}

// A second Open of a file in use fails at once, naming the file and the PID
// that holds it, whatever its options; once the holder closes it, it opens.
func TestOpenRefusesAFileInUse(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	first, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []sqlite.Options{
		{Synchronous: "normal"},
		{Synchronous: "full"},
		{Synchronous: "normal", LockWait: time.Millisecond},
	} {
		second, err := sqlite.Open(ctx, path, opts)
		if err == nil {
			second.Close()
			t.Fatalf("Open %+v of a file in use succeeded", opts)
		}
		if code := tally.ErrorCode(err); code != tally.EUnavailable {
			t.Errorf("Open %+v: code %q, want %q (%v)", opts, code, tally.EUnavailable, err)
		}
		msg := err.Error()
		for _, want := range []string{path, "process " + strconv.Itoa(os.Getpid())} {
			if !strings.Contains(msg, want) {
				t.Errorf("Open %+v: error %q does not name %q", opts, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("Open %+v: error %q is not one line", opts, msg)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, sqlite.Options{Synchronous: "normal"})
}

// With LockWait, Open waits for the holder to close the file, as in a
// rolling deploy, and says that it waits.
func TestOpenWaitsForTheHolder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	first, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	log := make(lines, 100)
	type result struct {
		s   *sqlite.Store
		err error
	}
	opened := make(chan result, 1)
	go func() {
		// Generous: the test ends as soon as the first store closes.
		s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal", LockWait: time.Hour,
			Logger: slog.New(slog.NewTextHandler(log, nil))})
		close(log) // Open is the only user of the logger
		opened <- result{s, err}
	}()
	line, ok := log.find("waiting")
	if !ok {
		r := <-opened
		if r.s != nil {
			r.s.Close()
		}
		t.Fatalf("Open of a file in use did not wait for it (error %v)", r.err)
	}
	if want := "process " + strconv.Itoa(os.Getpid()); !strings.Contains(line, want) {
		t.Errorf("waiting record %q does not name %q", line, want)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-opened
	if r.err != nil {
		t.Fatalf("Open after the holder closed: %v", r.err)
	}
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Open gives up waiting when its context ends.
func TestOpenWaitEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tally.db")
	mustOpen(t, path, sqlite.Options{Synchronous: "normal"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal", LockWait: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a canceled context: %v, want context.Canceled", err)
	}
}
