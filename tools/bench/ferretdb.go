package bench

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

// ferretDB is the FerretDB the bench starts when it is given no MongoDB
// URI: tools/ferretdb (the tests' launcher, its own module so that Tally's
// never depends on FerretDB) built with the go command and run with its
// data in the run's folder.
type ferretDB struct {
	URI     string
	Version string // the FerretDB module version tools/ferretdb pins
	cmd     *exec.Cmd
	stdin   io.Closer
	done    chan error
}

// ferretStartTimeout covers a first build, which downloads FerretDB's
// modules.
const ferretStartTimeout = 5 * time.Minute

// startFerretDB builds tools/ferretdb of the clone the working directory
// is in and starts it on a free loopback port, its data under dir.
func startFerretDB(ctx context.Context, dir string) (*ferretDB, error) {
	root, err := cloneRoot()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(root, "tools", "ferretdb")
	bin := filepath.Join(dir, "ferretdb")
	build := exec.CommandContext(ctx, "go", "build", "-C", src, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s (give a mongodb:// URI to use a server of your own): %w\n%s", src, err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "ferretdb.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-dir", filepath.Join(dir, "ferretdb-data"))
	cmd.Stderr = logFile
	// The launcher stops when its stdin closes, so it cannot outlive the
	// bench, however the bench ends.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "ferretdb-data"), 0o755); err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	f := &ferretDB{cmd: cmd, stdin: stdin, done: make(chan error, 1), Version: ferretVersion(src)}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
		f.done <- cmd.Wait()
		logFile.Close()
	}()
	select {
	case uri, ok := <-line:
		if ok && strings.HasPrefix(uri, "mongodb://") {
			f.URI = uri
			return f, nil
		}
		_ = f.stop()
		return nil, fmt.Errorf("tools/ferretdb exited without printing its URI (log: %s)", logFile.Name())
	case <-time.After(ferretStartTimeout):
		_ = f.stop()
		return nil, fmt.Errorf("tools/ferretdb printed no URI within %v", ferretStartTimeout)
	case <-ctx.Done():
		_ = f.stop()
		return nil, ctx.Err()
	}
}

// stop closes the launcher's stdin and sends SIGTERM, then kills it if it
// has not exited within ten seconds.
func (f *ferretDB) stop() error {
	_ = f.stdin.Close()
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.done:
		if _, ok := errors.AsType[*exec.ExitError](err); ok {
			return nil // stopped by our signal
		}
		return err
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		return errors.New("ferretdb: killed after SIGTERM was ignored")
	}
}

// cloneRoot walks up from the working directory to the one holding
// tools/ferretdb: the FerretDB is built from the clone's source.
func cloneRoot() (string, error) {
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
			return "", errors.New("no mongodb:// URI given, and no tools/ferretdb above the working directory to start FerretDB from: " +
				"run from a clone of Tally, or give --store mongodb://…")
		}
		dir = parent
	}
}

// ferretVersion is the FerretDB version tools/ferretdb's go.mod requires.
func ferretVersion(src string) string {
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
