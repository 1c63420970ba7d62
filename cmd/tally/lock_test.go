package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/testbin"
)

// runUntilReady runs args like main, except that a serve that gets to
// listen is stopped at once, so that a server that should not have started
// shows up as a nil error instead of running on.
func runUntilReady(t *testing.T, env map[string]string, log io.Writer, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := &cli{getenv: envOf(env), stdout: io.Discard, stderr: log, now: time.Now,
		ready: func(string) { cancel() }}
	return c.run(ctx, args)
}

// While a server holds the SQLite file, a second serve, verify and repair
// on it fail at once, with one line naming the file and the holder's PID.
func TestOneProcessPerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tally.db")
	env := map[string]string{"TALLY_STORE": "sqlite:" + path, "TALLY_SYNC": "normal", "TALLY_LOCK_WAIT": "0"}
	startServe(t, env, io.Discard)
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"verify"},
		{"repair"},
	} {
		t.Run(args[0], func(t *testing.T) {
			err := runUntilReady(t, env, io.Discard, args...)
			if err == nil {
				t.Fatalf("%s beside a running server succeeded", args[0])
			}
			msg := err.Error()
			for _, want := range []string{path, "process " + strconv.Itoa(os.Getpid())} {
				if !strings.Contains(msg, want) {
					t.Errorf("%s: error %q does not name %q", args[0], msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("%s: error %q is not one line", args[0], msg)
			}
		})
	}
}

// In a rolling deploy the new server waits, and says so, until the old one
// has stopped and released the file, then serves.
func TestRollingDeployWaitsForTheOldServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tally.db")
	env := map[string]string{"TALLY_STORE": "sqlite:" + path, "TALLY_SYNC": "normal"}
	_, stopOld := startServe(t, env, io.Discard)

	env["TALLY_LOCK_WAIT"] = "1h" // bounded by the test: the old server stops as soon as the new one waits
	var log syncBuffer
	waiting := make(chan struct{})
	newLog := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "waiting for it to stop") {
			close(waiting)
		}
		return log.Write(p)
	})
	served := make(chan error, 1)
	go func() { served <- runUntilReady(t, env, newLog, "serve", "--addr", "127.0.0.1:0") }()
	select {
	case <-waiting:
	case err := <-served:
		t.Fatalf("the new server did not wait for the old one: %v\n%s", err, log.String())
	}
	if err := stopOld(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("the new server after the old one stopped: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "database lock acquired") {
		t.Errorf("the new server's log does not say it got the lock:\n%s", log.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// The real binary refused a file in use exits with status 1 and one line on
// stderr; the lock is the kernel's, so it holds across processes.
func TestSecondProcessExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary; skipped with -short")
	}
	bin := testbin.Build(t)
	path := filepath.Join(t.TempDir(), "tally.db")
	startServe(t, map[string]string{"TALLY_STORE": "sqlite:" + path, "TALLY_SYNC": "normal"}, io.Discard)
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"repair"},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, append(args, "--store", "sqlite:"+path)...)
			cmd.Env = append(os.Environ(), "TALLY_LOCK_WAIT=0")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			// A serve that wrongly starts would run until the test ends:
			// its output is enough to fail, so stop waiting for it then.
			cmd.WaitDelay = time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute): // only a wrongly started serve gets here
				_ = cmd.Process.Kill()
				err = <-done
				t.Fatalf("%s beside a running server kept running (%v):\n%s", args[0], err, stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("%s beside a running server: %v, want exit status 1\n%s", args[0], err, stderr.String())
			}
			out := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(out, "\n") || !strings.Contains(out, path) ||
				!strings.Contains(out, "process "+strconv.Itoa(os.Getpid())) {
				t.Errorf("%s: stderr %q, want one line naming %s and process %d", args[0], out, path, os.Getpid())
			}
		})
	}
}
