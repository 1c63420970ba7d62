// Command ferretdb runs an embedded FerretDB (SQLite handler, temporary
// directory) on a free loopback port for Tally's MongoDB tests. It prints the
// server's mongodb:// URI on one line of stdout once the server accepts
// connections, and runs until its standard input closes or it receives
// SIGINT or SIGTERM; the data directory is then removed.
//
// It lives in its own module so that Tally's main module never depends on
// FerretDB and its many dependencies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(os.Stdin, os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "SQLite data directory (default: a new temporary directory, removed on exit)")
	addr := fs.String("listen", "127.0.0.1:0", "TCP address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}

	if *dir == "" {
		d, err := os.MkdirTemp("", "tally-ferretdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The parent (a test binary) holds our stdin open; when it exits or
		// dies, stdin reaches EOF and we stop instead of lingering.
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()

	// At Warn FerretDB logs every error reply, including the duplicate-key
	// errors Tally provokes on purpose.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/",
	})
	if err != nil {
		return err
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until the listener is bound; if Run fails first it
	// would block forever, hence the select.
	uri := make(chan string, 1)
	go func() { uri <- f.MongoDBURI() }()
	select {
	case u := <-uri:
		if err := waitDial(ctx, u); err != nil {
			return err
		}
		fmt.Fprintln(stdout, u)
	case err := <-done:
		if err == nil {
			err = errors.New("stopped before listening")
		}
		return err
	}
	return <-done
}

// waitDial waits until the URI's host accepts TCP connections.
func waitDial(ctx context.Context, uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return err
	}
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
