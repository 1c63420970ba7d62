package mongo

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/mongo/mongotest"
)

// TestWriteCellsOnce: a group folded again (a roller that crashed after
// writing some cells) is not counted twice: the upsert's filter misses the
// cell that holds it, the insert it falls back to fails with a duplicate
// key, and the cell read back shows the group. A later group counts.
func TestWriteCellsOnce(t *testing.T) {
	ctx := context.Background()
	s, err := OpenOptions(ctx, mongotest.URI(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k := tally.CellKey{Bucket: 1793577600, DeviceType: tally.DeviceMobile, Category: tally.NoCategory, Client: 7}
	fold := func(seq int64) {
		t.Helper()
		var c cellChanges
		c.add(k, 2, tally.MustDecimal("1.25"))
		if err := s.writeCells(ctx, seq, &c); err != nil {
			t.Fatalf("writeCells(%d): %v", seq, err)
		}
	}
	fold(1000)
	fold(1000)
	fold(999) // older than the cell: already in it
	var got cellDoc
	if err := s.cells.FindOne(ctx, bson.D{{Key: "_id", Value: cellID(k)}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Count != 2 || got.sum() != tally.MustDecimal("1.25") || got.Seq != 1000 {
		t.Errorf("after folding group 1000 twice: count %d sum %s seq %d, want 2 1.25 1000", got.Count, got.sum(), got.Seq)
	}
	fold(1001)
	if err := s.cells.FindOne(ctx, bson.D{{Key: "_id", Value: cellID(k)}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Count != 4 || got.sum() != tally.MustDecimal("2.5") || got.Seq != 1001 {
		t.Errorf("after group 1001: count %d sum %s seq %d, want 4 2.5 1001", got.Count, got.sum(), got.Seq)
	}
}
