// Package mongotest gives tests a real MongoDB wire-protocol server: the
// deployment named by TALLY_TEST_MONGODB_URI when it is set, else an
// embedded FerretDB v1.24.2 that it builds from tools/ferretdb and starts for
// the test binary. With credentials in TALLY_TEST_MONGODB_URI, add
// authSource=admin: each test gets its own database in the URI's path.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }
//
// With CI=true a server that cannot be had fails the tests instead of
// skipping them.
package mongotest

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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURI names the variable that points the tests at a real deployment.
const EnvURI = "TALLY_TEST_MONGODB_URI"

// The server of this test binary, set once by Main before any test runs.
var (
	serverURI string
	serverErr error
	real      bool
	dbCounter atomic.Int64
)

// Main finds or starts the server, runs the tests and stops the server. It
// returns the exit code for os.Exit.
func Main(m *testing.M) int {
	if uri := os.Getenv(EnvURI); uri != "" {
		serverURI, real = uri, true
		return m.Run()
	}
	srv, err := startFerretDB()
	if err != nil {
		serverErr = err
		return m.Run() // each test fails or skips with the cause
	}
	serverURI = srv.uri
	code := m.Run()
	if err := srv.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "mongotest: stopping FerretDB:", err)
	}
	return code
}

// Real reports whether the tests run against TALLY_TEST_MONGODB_URI rather
// than the embedded FerretDB: only a real MongoDB applies concurrent $inc
// from several processes exactly.
func Real() bool { return real }

// URI returns the URI of a new, empty database for tb, dropped when tb
// ends. It fails tb when no server could be had under CI=true, and skips it
// otherwise.
func URI(tb testing.TB) string {
	tb.Helper()
	if serverURI == "" {
		msg := "no MongoDB server: call mongotest.Main from TestMain"
		if serverErr != nil {
			msg = fmt.Sprintf("no MongoDB server (set %s to use one): %v", EnvURI, serverErr)
		}
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	// FerretDB accepts only [a-zA-Z0-9_-] in database names, up to 63 bytes.
	db := fmt.Sprintf("tallytest_%d_%d", os.Getpid(), dbCounter.Add(1))
	uri := WithDatabase(serverURI, db)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := driver.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			tb.Errorf("mongotest: drop %s: %v", db, err)
			return
		}
		defer func() { _ = c.Disconnect(ctx) }()
		if err := c.Database(db).Drop(ctx); err != nil {
			tb.Errorf("mongotest: drop %s: %v", db, err)
		}
	})
	return uri
}

// Client returns a driver client on uri, disconnected when tb ends, for
// tests that look at the stored documents.
func Client(tb testing.TB, uri string) *driver.Client {
	tb.Helper()
	c, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// WithDatabase returns uri with its database path set to db; hosts and
// options are kept.
func WithDatabase(uri, db string) string {
	i := strings.Index(uri, "://")
	if i < 0 {
		return uri
	}
	i += 3
	rest := uri[i:]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		return uri + "/" + db
	}
	query := ""
	if q := strings.IndexByte(rest[end:], '?'); q >= 0 {
		query = rest[end+q:]
	}
	return uri[:i] + rest[:end] + "/" + db + query
}

// ferretDB is a running launcher process.
type ferretDB struct {
	uri   string
	cmd   *exec.Cmd
	stdin io.Closer
}

// startFerretDB builds tools/ferretdb (cheap once the build cache is warm)
// and starts it.
func startFerretDB() (*ferretDB, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tally-mongotest-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "ferretdb")
	build := exec.Command("go", "build", "-C", filepath.Join(root, "tools", "ferretdb"), "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build tools/ferretdb: %w\n%s", err, out)
	}

	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tools/ferretdb: %w", err)
	}
	// The binary is loaded; its directory can go now.
	defer os.RemoveAll(dir)

	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	f := &ferretDB{cmd: cmd, stdin: stdin}
	select {
	case uri, ok := <-line:
		if ok && strings.HasPrefix(uri, "mongodb://") {
			f.uri = uri
			return f, nil
		}
		_ = f.stop()
		return nil, errors.New("tools/ferretdb exited without printing its URI")
	case <-time.After(2 * time.Minute):
		_ = f.stop()
		return nil, errors.New("tools/ferretdb printed no URI within 2 minutes")
	}
}

// stop closes the launcher's stdin and sends SIGTERM, then kills it if it
// has not exited within ten seconds.
func (f *ferretDB) stop() error {
	_ = f.stdin.Close()
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- f.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil // stopped by our signal
		}
		return err
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		return errors.New("killed after SIGTERM was ignored")
	}
}

// repoRoot walks up from the working directory (the package directory under
// go test) to the directory holding tools/ferretdb.
func repoRoot() (string, error) {
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
			return "", errors.New("tools/ferretdb not found above the working directory")
		}
		dir = parent
	}
}
