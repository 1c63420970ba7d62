package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/tools/gen"
)

// syncBuffer is a bytes.Buffer the server's goroutines may log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs `tally serve` in-process on a free port of the loopback
// interface and returns its base URL and the function that stops it with the
// signal context, as main would, and returns serve's result.
func startServe(t *testing.T, env map[string]string, log io.Writer) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	c := &cli{getenv: envOf(env), stdout: io.Discard, stderr: log, now: time.Now,
		ready: func(addr string) { ready <- addr }}
	served := make(chan error, 1)
	go func() { served <- c.run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}) }()
	select {
	case addr := <-ready:
		var once sync.Once
		var err error
		stop := func() error {
			once.Do(func() { cancel(); err = <-served })
			return err
		}
		t.Cleanup(func() { _ = stop() })
		return "http://" + addr, stop
	case err := <-served:
		cancel()
		t.Fatalf("serve stopped before listening: %v", err)
		return "", nil
	}
}

func TestEndToEnd(t *testing.T) {
	const days, perDay, seed = 3, 200, 11
	end := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	env := map[string]string{"TALLY_STORE": "sqlite:" + filepath.Join(t.TempDir(), "tally.db"), "TALLY_SYNC": "normal"}
	var log syncBuffer
	base, stop := startServe(t, env, &log)

	genArgs := []string{"gen", "--url", base, "--days", strconv.Itoa(days), "--per-day", strconv.Itoa(perDay),
		"--seed", strconv.Itoa(seed), "--end", end.Format(time.DateOnly), "--concurrency", "4"}
	if _, stderr, err := runCLI(t, genArgs...); err != nil {
		t.Fatalf("gen --url: %v\n%s", err, stderr)
	}

	// What the server must answer, from the same generator.
	g, err := gen.New(gen.Config{Days: days, PerDay: perDay, Seed: seed, Now: end})
	if err != nil {
		t.Fatal(err)
	}
	type agg struct {
		count int
		sum   tally.Decimal
	}
	byDay := map[string]agg{}
	var total agg
	var e tally.Event
	for g.Next(&e) {
		d := e.Timestamp.Format(time.DateOnly)
		a := byDay[d]
		a.count++
		a.sum = a.sum.Add(e.Value)
		byDay[d] = a
		total.count++
		total.sum = total.sum.Add(e.Value)
	}

	checkDays := func(t *testing.T) {
		t.Helper()
		out, stderr, err := runCLI(t, "report", "--url", base, "--group-by", "date", "--csv")
		if err != nil {
			t.Fatalf("report --csv: %v\n%s", err, stderr)
		}
		records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("report --csv: %v\n%s", err, out)
		}
		if diff := cmp.Diff([]string{"day", "count", "sum", "mean"}, records[0]); diff != "" {
			t.Fatalf("CSV header (-want +got):\n%s", diff)
		}
		got := map[string]agg{}
		for _, r := range records[1:] {
			n, _ := strconv.Atoi(r[1])
			s, err := tally.ParseDecimal(r[2])
			if err != nil {
				t.Fatalf("sum %q: %v", r[2], err)
			}
			got[r[0]] = agg{n, s}
		}
		if diff := cmp.Diff(byDay, got, cmp.AllowUnexported(agg{})); diff != "" {
			t.Errorf("count and sum per day (-want +got):\n%s", diff)
		}
	}
	checkDays(t)

	// The table, through the default JSON answer.
	out, stderr, err := runCLI(t, "report", "--url", base, "--group-by", "valid", "--order-by", "-valid")
	if err != nil {
		t.Fatalf("report: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "valid") || !strings.HasPrefix(lines[1], "true") ||
		!strings.HasPrefix(lines[2], "false") {
		t.Errorf("report table:\n%s\nwant a header, then valid true and false", out)
	}
	wantFooter := "rows 1-2 of 2; totals: count " + strconv.Itoa(total.count) + ", sum "
	if !strings.HasPrefix(lines[len(lines)-1], wantFooter) {
		t.Errorf("footer %q, want it to start with %q", lines[len(lines)-1], wantFooter)
	}

	// A query the server refuses: its message, and an error.
	_, _, err = runCLI(t, "report", "--url", base, "--group-by", "valid", "--order-by", "client")
	if err == nil || !strings.Contains(err.Error(), "order_by") {
		t.Errorf("report with order_by outside group_by: error %v, want the server's message naming order_by", err)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve after the signal: %v\nlog:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), `"msg":"stopped"`) {
		t.Errorf("log lacks the clean stop:\n%s", log.String())
	}

	// The closed store opens again with every acknowledged event.
	base, stop = startServe(t, env, io.Discard)
	checkDays(t)
	if err := stop(); err != nil {
		t.Fatalf("second serve: %v", err)
	}
}
