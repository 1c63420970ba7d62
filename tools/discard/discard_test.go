package discard_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/tools/discard"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	var s tally.Store = discard.Store{}
	e := tally.Event{ID: tally.NewID(), Category: tally.NoCategory, Client: 1, ClientGroup: 1}

	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	// Even a resend is accepted: the store remembers nothing to compare with.
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent again: %v", err)
	}
	got, err := s.CreateEvents(ctx, []tally.Event{e, e, {ID: tally.NewID()}})
	if err != nil {
		t.Fatalf("CreateEvents: %v", err)
	}
	if diff := cmp.Diff([]bool{true, true, true}, got); diff != "" {
		t.Errorf("CreateEvents (-want +got):\n%s", diff)
	}
	if _, err := s.Event(ctx, e.ID); tally.ErrorCode(err) != tally.ENotFound {
		t.Errorf("Event: got error %v, want code %s", err, tally.ENotFound)
	}
	if err := s.DeleteEvent(ctx, e.ID); tally.ErrorCode(err) != tally.ENotFound {
		t.Errorf("DeleteEvent: got error %v, want code %s", err, tally.ENotFound)
	}
	q := tally.ReportQuery{Limit: 100}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Report(ctx, q)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if rep.TotalCount != 0 || rep.Rows == nil || len(rep.Rows) != 0 {
		t.Errorf("Report = %+v, want no rows (a non-nil empty slice)", rep)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := discard.Store{}
	if err := s.CreateEvent(ctx, tally.Event{}); err == nil {
		t.Error("CreateEvent on a canceled context: no error")
	}
	if _, err := s.CreateEvents(ctx, []tally.Event{{}}); err == nil {
		t.Error("CreateEvents on a canceled context: no error")
	}
}
