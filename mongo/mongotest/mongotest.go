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
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/ferretdb"
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
	dir, err := os.MkdirTemp("", "tally-mongotest-")
	if err != nil {
		serverErr = err
		return m.Run()
	}
	defer os.RemoveAll(dir)
	srv, err := ferretdb.Start(context.Background(), ferretdb.Options{Dir: dir, Log: os.Stderr})
	if err != nil {
		serverErr = err
		return m.Run() // each test fails or skips with the cause
	}
	serverURI = srv.URI
	code := m.Run()
	if err := srv.Stop(); err != nil {
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
