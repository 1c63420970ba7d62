package mongo

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
	"github.com/tallyhq/tally/mongo/mongotest"
)

// TestSlotBuildAcrossDeletes: a sub-day rollup build whose scan cannot see
// an event removed after the build began (a transaction's delete, or a
// tombstone the writer cleared) still counts it once, and counts once an
// event the scan saw and that was deleted before the build finished; events
// created meanwhile count once too.
func TestSlotBuildAcrossDeletes(t *testing.T) {
	ctx := context.Background()
	s, err := OpenOptions(ctx, mongotest.URI(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	start := time.Date(2026, 3, 28, 20, 0, 0, 0, time.UTC) // across Berlin's DST start
	var evs []tally.Event
	for i := range 40 {
		evs = append(evs, tally.Event{ID: tally.NewID(), DeviceType: tally.DeviceType(i % 4), Category: tally.NoCategory,
			Client: int32(i % 3), Valid: true, Timestamp: start.Add(time.Duration(i) * 17 * time.Minute),
			Value: tally.DecimalFromMicros(int64(i) * 1_250_000)})
	}
	if _, err := s.CreateEvents(ctx, evs[:30]); err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColDate, tally.ColClient}, Granularity: tally.Hour, Location: berlin}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	need, ok := s.view.pub.Load().SlotNeed(&q)
	if !ok {
		t.Fatal("SlotNeed: no rollup to build")
	}
	sb, ok := s.beginSlots([]cube.SlotNeed{need})
	if !ok {
		t.Fatal("beginSlots: nothing to build")
	}
	// Before the scan: one event removed, one created.
	if err := s.DeleteEvent(ctx, evs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEvents(ctx, evs[30:35]); err != nil {
		t.Fatal(err)
	}
	counted, err := s.scanSlots(ctx, sb.scan, sb.b)
	if err != nil {
		t.Fatal(err)
	}
	// After the scan: one event it counted removed, more created.
	if err := s.DeleteEvent(ctx, evs[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEvents(ctx, evs[35:]); err != nil {
		t.Fatal(err)
	}
	if err := s.finishSlots(ctx, sb, counted, nil); err != nil {
		t.Fatal(err)
	}
	got, ok := s.view.pub.Load().Report(&q)
	if !ok {
		t.Fatal("the rollup does not answer the report")
	}
	a := tally.NewAggregator(&q)
	for _, e := range evs[2:] {
		a.Add(tally.KeyOf(&e, 1), 1, e.Value)
	}
	if diff := cmp.Diff(a.Report(), got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}
