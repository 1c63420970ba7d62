package main

import (
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/tools/gen"
)

// verify exits non-zero and lists the damaged cells; repair rebuilds them;
// verify is then clean again.
func TestVerifyAndRepair(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gen.New(gen.Config{Days: 3, PerDay: 200, Seed: 4, Now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var events []tally.Event
	for e := (tally.Event{}); g.Next(&e); {
		events = append(events, e)
	}
	if _, err := st.CreateEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	stdout, _, err := runCLI(t, "verify", "--store", "sqlite:"+path)
	if err != nil || !strings.Contains(stdout, "all rollup cells match") {
		t.Fatalf("verify of a sound store: %v\n%s", err, stdout)
	}
	// Recent events are kept as a log above each day's snapshot of cells;
	// repair writes every day's cells, so that there are cells to damage.
	if stdout, _, err := runCLI(t, "repair", "--store", path); err != nil {
		t.Fatalf("repair of a sound store: %v\n%s", err, stdout)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE cells SET count = count + 5 WHERE (day, device_type, category, client, client_group, valid) IN
		(SELECT day, device_type, category, client, client_group, valid FROM cells LIMIT 3)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	stdout, _, err = runCLI(t, "verify", "--store", "sqlite:"+path)
	if err == nil || !strings.Contains(err.Error(), "3 rollup cells differ") {
		t.Fatalf("verify of a damaged store: err %v\n%s", err, stdout)
	}
	if lines := strings.Count(stdout, "\n"); lines != 4 { // header + 3 cells
		t.Errorf("verify listed %d lines, want 4:\n%s", lines, stdout)
	}

	stdout, _, err = runCLI(t, "repair", "--store", path)
	if err != nil || !strings.Contains(stdout, "rebuilt") {
		t.Fatalf("repair: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, "verify", "--store", path)
	if err != nil {
		t.Fatalf("verify after repair: %v\n%s", err, stdout)
	}
}

func TestHealthcheck(t *testing.T) {
	base, stop := startServe(t, map[string]string{"TALLY_STORE": filepath.Join(t.TempDir(), "t.db"), "TALLY_SYNC": "normal"}, io.Discard)
	if _, _, err := runCLI(t, "healthcheck", "--url", base); err != nil {
		t.Errorf("healthcheck of a running server: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "healthcheck", "--url", base); err == nil {
		t.Error("healthcheck of a stopped server succeeded")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://tally:s3cret@db1:27017,db2/tally?replicaSet=rs0": "mongodb://tally:xxxxx@db1:27017,db2/tally?replicaSet=rs0",
		"mongodb://db1/tally":                    "mongodb://db1/tally",
		"mongodb+srv://u:p@cluster0.example.net": "mongodb+srv://u:xxxxx@cluster0.example.net",
		"mongodb://user@db1/?authSource=admin":   "mongodb://user@db1/?authSource=admin",
		"sqlite:data/tally.db":                   "sqlite:data/tally.db",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
