package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/sqlite"
)

// Open logs how many events the file holds and which it stored last, so
// that after a crash an operator can see what survived.
func TestOpenLogsWhatSurvived(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tally.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	events := genEvents(t, 30, 3)
	if _, err := s.CreateEvents(ctx, events[:29]); err != nil {
		t.Fatal(err)
	}
	last := events[29]
	if err := s.CreateEvent(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	mustOpen(t, path, sqlite.Options{Synchronous: "normal", Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	var rec struct {
		Msg           string
		Path          string
		Events        int64
		LastEventID   string    `json:"last_event_id"`
		LastEventTime time.Time `json:"last_event_time"`
	}
	for line := range strings.Lines(buf.String()) {
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log record %q: %v", line, err)
		}
		if rec.Msg == "sqlite store opened" {
			break
		}
	}
	if rec.Msg != "sqlite store opened" {
		t.Fatalf("no record of the opened store in the log:\n%s", buf.String())
	}
	if rec.Path != path || rec.Events != 30 || rec.LastEventID != last.ID.String() || !rec.LastEventTime.Equal(last.Timestamp) {
		t.Errorf("opened record %+v, want path %s, 30 events, last %s at %s\n%s",
			rec, path, last.ID, last.Timestamp, buf.String())
	}
}
