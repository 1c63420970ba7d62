package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/tallyhq/tally"
)

// lockRetry is how often Open tries again for a lock held by another
// process while LockWait lasts.
const lockRetry = 100 * time.Millisecond

// fileLock is the exclusive hold of one database file by one Store: an
// advisory lock on the sidecar file <database>.lock, which holds the
// holder's PID so that a refused opener can name it.
//
// The store keeps its cube, its Bloom filters and its next seq in memory,
// so a second writer on the file would reuse seqs, miss the other's ids and
// answer from stale cells; SQLite's own locks serialize transactions but do
// not prevent that. The lock is on a sidecar rather than the database so
// that it never interferes with SQLite's locking of the database itself.
// The kernel drops it when the process dies, kill -9 included, so a crash
// never leaves a stale lock behind. The file is left in place on release:
// removing it would let one process lock the old file while another creates
// and locks a new one.
type fileLock struct {
	f *os.File
}

// lockPath is the sidecar lock file of the database at path.
func lockPath(path string) string { return path + ".lock" }

// acquireLock takes the exclusive lock of the database at path. When another
// process holds it, it tries again until wait has passed (logging once that
// it waits), then fails with an EUnavailable error that names the file and
// the holder's PID.
func acquireLock(ctx context.Context, path string, wait time.Duration, logger *slog.Logger) (*fileLock, error) {
	lp := lockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open lock file: %w", err)
	}
	if !lockSupported {
		logger.Warn("no exclusive file lock on this system: make sure only one process uses the database",
			"path", path)
	}
	start := time.Now()
	deadline := start.Add(wait)
	logged := false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("sqlite: lock %s: %w", lp, err)
		}
		if ok {
			break
		}
		holder := lockHolder(f)
		if !time.Now().Before(deadline) {
			f.Close()
			if wait > 0 {
				return nil, tally.Errorf(tally.EUnavailable, "sqlite: %s is still in use by %s after waiting %s (lock file %s)",
					path, holder, wait, lp)
			}
			return nil, tally.Errorf(tally.EUnavailable, "sqlite: %s is in use by %s (lock file %s)", path, holder, lp)
		}
		if !logged {
			logger.Warn("database in use by another process, waiting for it to stop",
				"path", path, "holder", holder, "lock_wait", wait)
			logged = true
		}
		t := time.NewTimer(min(lockRetry, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("sqlite: waiting for the lock of %s held by %s: %w", path, holder, ctx.Err())
		case <-t.C:
		}
	}
	if logged {
		logger.Info("database lock acquired", "path", path, "waited", time.Since(start).Round(time.Millisecond))
	}
	// Record who holds the lock, for the error of the next opener.
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: write lock file %s: %w", lp, err)
	}
	return &fileLock{f: f}, nil
}

// writePID replaces f's content with this process's PID.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// lockHolder describes the process that holds f's lock from the PID it
// wrote, for messages.
func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n]))); err == nil && pid > 0 {
		return "process " + strconv.Itoa(pid)
	}
	// The holder has locked the file but not written its PID yet.
	return "another process"
}

// release gives the lock up. Closing the file is what releases it; it may
// be called more than once.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	return f.Close()
}
