// Package ferretdb builds and starts the FerretDB of tools/ferretdb (its
// own module, so that Tally's never depends on FerretDB): the MongoDB
// wire-protocol server the tests and `tally bench --store mongodb` use
// when no MongoDB is given.
package ferretdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startTimeout covers a first build, which downloads FerretDB's modules.
const startTimeout = 5 * time.Minute

// Server is a running launcher process.
type Server struct {
	URI     string
	Version string // the FerretDB module version tools/ferretdb pins
	cmd     *exec.Cmd
	stdin   io.Closer
	done    chan error
}

// Options say where the server keeps its files.
type Options struct {
	// Dir, which must exist, receives the built binary.
	Dir string
	// DataDir, when not empty, is where FerretDB keeps its data (created);
	// else the launcher picks a temporary folder of its own.
	DataDir string
	// Log receives the launcher's stderr (nil: discarded).
	Log io.Writer
}

// Start builds tools/ferretdb of the clone the working directory is in and
// starts it on a free loopback port. The launcher stops when its stdin
// closes, so it cannot outlive the process that started it.
func Start(ctx context.Context, o Options) (*Server, error) {
	root, err := CloneRoot()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(root, "tools", "ferretdb")
	bin := filepath.Join(o.Dir, "ferretdb")
	build := exec.CommandContext(ctx, "go", "build", "-C", src, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: %w\n%s", src, err, out)
	}
	var args []string
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "-dir", o.DataDir)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = o.Log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, stdin: stdin, done: make(chan error, 1), Version: version(src)}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	select {
	case uri, ok := <-line:
		if ok && strings.HasPrefix(uri, "mongodb://") {
			s.URI = uri
			return s, nil
		}
		_ = s.Stop()
		return nil, errors.New("tools/ferretdb exited without printing its URI")
	case <-time.After(startTimeout):
		_ = s.Stop()
		return nil, fmt.Errorf("tools/ferretdb printed no URI within %v", startTimeout)
	case <-ctx.Done():
		_ = s.Stop()
		return nil, ctx.Err()
	}
}

// Stop closes the launcher's stdin and sends SIGTERM, then kills it if it
// has not exited within ten seconds.
func (s *Server) Stop() error {
	_ = s.stdin.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if _, ok := errors.AsType[*exec.ExitError](err); ok {
			return nil // stopped by our signal
		}
		return err
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("ferretdb: killed after SIGTERM was ignored")
	}
}

// CloneRoot walks up from the working directory to the one holding
// tools/ferretdb: FerretDB is built from the clone's source.
func CloneRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "ferretdb", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no tools/ferretdb above the working directory to build FerretDB from")
		}
		dir = parent
	}
}

// version is the FerretDB version tools/ferretdb's go.mod requires.
func version(src string) string {
	b, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return "(unknown version)"
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == "github.com/FerretDB/FerretDB" {
			return f[1]
		}
	}
	return "(unknown version)"
}
