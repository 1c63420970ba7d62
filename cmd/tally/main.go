// Command tally serves the Tally event and report API and talks to it: serve
// runs the server, gen generates synthetic events (to stdout or a server),
// report prints a server's aggregated report, bench and load measure it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, let a second one kill the process the
		// usual way, in case shutdown hangs.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			if u.err != nil {
				fmt.Fprintln(os.Stderr, "tally:", u.err)
			}
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "tally:", err)
		os.Exit(1)
	}
}

// run is main without the process: it takes everything main would read from
// the environment, so that tests can run every subcommand in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr, now: time.Now}
	return c.run(ctx, args)
}

// cli is what the subcommands share. The fields beyond run's arguments are
// hooks for tests.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time
	ready          func(addr string) // when set, called once serve listens, with the bound address
}

const usage = `Usage: tally <command> [flags]

Commands:
  serve    run the HTTP API server
  gen      generate synthetic events as NDJSON, or post them to a server
  report   print a running server's aggregated report
  bench    run the reproducible benchmark and print its table (--out appends it to a file)
  load     send mixed traffic for a while and judge errors, consistency and memory
  verify   check the stored rollups against the raw events
  repair   rebuild the stored rollups from the raw events
  healthcheck  exit 0 when a local server is alive (for container health checks)
  version  print the version and the commit this binary was built from (also --version)
  help     show this help

Run 'tally <command> -h' for a command's flags.
`

// usageError is a command-line mistake: main exits with status 2. A nil err
// means the message was already printed (the flag package does so).
type usageError struct{ err error }

func (u usageError) Error() string {
	if u.err == nil {
		return "invalid usage"
	}
	return u.err.Error()
}

func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return usageError{errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return c.serve(ctx, rest)
	case "gen":
		return c.gen(ctx, rest)
	case "report":
		return c.report(ctx, rest)
	case "bench":
		return c.bench(ctx, rest)
	case "load":
		return c.load(ctx, rest)
	case "verify":
		return c.check(ctx, rest, false)
	case "repair":
		return c.check(ctx, rest, true)
	case "healthcheck":
		return c.healthcheck(ctx, rest)
	case "version", "-version", "--version":
		if len(rest) > 0 {
			return usageError{fmt.Errorf("version: unexpected argument %q", rest[0])}
		}
		return c.version()
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return nil
	default:
		fmt.Fprint(c.stderr, usage)
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}

// newFlagSet returns a flag set whose errors are returned, not fatal.
func (c *cli) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tally %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. -h is not an error: it returns errHelp so
// that the command stops and run returns nil.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return errHelp
	case err != nil:
		return usageError{} // the flag package printed it, with the usage
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

var errHelp = errors.New("help requested")

// helpOK turns the help request into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
