// Package proc runs `tally serve` as a child process, for the tools that
// measure or crash a real server (bench, load, crashtest).
package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tallyhq/tally/client"
)

// Server is a `tally serve` child process.
type Server struct {
	cmd  *exec.Cmd
	URL  string // http://127.0.0.1:PORT
	log  string // its log file
	done chan struct{}
	err  error // Wait's answer, once done is closed

	peak       atomic.Int64 // the highest resident set seen, bytes
	stopSample chan struct{}
	sampled    sync.WaitGroup
}

// StartTimeout bounds how long Start waits for a server to listen: a
// failure guard, as Open replays and loads for a while at tens of millions
// of events.
const StartTimeout = 10 * time.Minute

const (
	stopTimeout = 30 * time.Second
	sampleEvery = 250 * time.Millisecond
	readyPoll   = 5 * time.Millisecond
)

// Start runs binary as `serve` on a free loopback port over store,
// logging to logPath, and returns once it listens. The port comes from the
// server's own "listening" log line, so serve needs no flag for it. The
// caller must Stop it.
func Start(ctx context.Context, binary, store, sync, logPath string) (*Server, error) {
	args := []string{"serve", "--addr", "127.0.0.1:0", "--store", store, "--log-format", "json"}
	if sync != "" {
		args = append(args, "--sync", sync)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	s := &Server{cmd: cmd, log: logPath, done: make(chan struct{}), stopSample: make(chan struct{})}

	addr := make(chan string, 1)
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logFile.Write(append(line, '\n')) // a lost log line only costs a diagnosis
			if !found {
				var rec struct{ Msg, Addr string }
				if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
					found = true
					addr <- rec.Addr
				}
			}
		}
		_, _ = io.Copy(logFile, stderr)
		s.err = cmd.Wait()
		close(s.done)
	}()

	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		if s.err == nil {
			return nil, fmt.Errorf("server exited before listening: %s", logTail(logPath))
		}
		return nil, fmt.Errorf("server exited before listening (%w): %s", s.err, logTail(logPath))
	case <-timer.C:
		s.Kill()
		return nil, fmt.Errorf("server did not listen within %v: %s", StartTimeout, logTail(logPath))
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	}
	s.sampled.Go(s.sample)
	return s, nil
}

// sample keeps the highest resident set size seen until stopSample closes:
// VmHWM already holds the kernel's peak, the samples are a check on it.
func (s *Server) sample() {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		s.notePeak()
		select {
		case <-s.stopSample:
			return
		case <-s.done:
			return
		case <-t.C:
		}
	}
}

func (s *Server) notePeak() {
	st, err := ReadStatus(s.cmd.Process.Pid)
	if err != nil {
		return
	}
	for _, v := range []int64{st["VmHWM"], st["VmRSS"]} {
		for {
			old := s.peak.Load()
			if v <= old || s.peak.CompareAndSwap(old, v) {
				break
			}
		}
	}
}

// PeakRSS returns the server's peak resident set size in bytes so far, 0
// where /proc is not available.
func (s *Server) PeakRSS() int64 {
	s.notePeak()
	return s.peak.Load()
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop asks the server to shut down (SIGTERM, as an operator would) and
// waits for it; a server that does not stop in time is killed.
func (s *Server) Stop() error {
	close(s.stopSample)
	s.sampled.Wait()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.Kill()
		return fmt.Errorf("stopping server: %w", err)
	}
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.Kill()
		return fmt.Errorf("server did not stop within %v: %s", stopTimeout, logTail(s.log))
	}
	if s.err != nil {
		return fmt.Errorf("server: %w: %s", s.err, logTail(s.log))
	}
	return nil
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// WaitReady polls GET /readyz until it answers 200, for at most timeout.
func (s *Server) WaitReady(ctx context.Context, timeout time.Duration) error {
	hc := &http.Client{Timeout: timeout}
	defer hc.CloseIdleConnections()
	c, err := client.New(s.URL, client.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if c.Ready(ctx) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET /readyz: not 200 within %v: %s", timeout, logTail(s.log))
		case <-s.done:
			return fmt.Errorf("server exited: %s", logTail(s.log))
		case <-time.After(readyPoll):
		}
	}
}

// LogTail returns the last lines of the server's log, for error messages.
func (s *Server) LogTail() string { return logTail(s.log) }

// ReadStatus reads the kB fields of /proc/PID/status (VmRSS, VmHWM,
// RssAnon…), in bytes.
func ReadStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64)
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[name] = n << 10
		}
	}
	return m, nil
}

// logTail returns the last lines of a log file, for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b = bytes.TrimSpace(b)
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return "log " + path + ": " + string(bytes.Join(lines, []byte("\n")))
}
