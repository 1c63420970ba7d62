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

// TestWriteCellsAfterPartialFold: a roller killed while writing a group's
// cells leaves some of them holding the group and the others not; the next
// roller folds the group again. Every cell must end up holding it once,
// whichever of them the first roller reached. (FerretDB v1.24.2 ignores
// ordered=false on update and stops a bulk write at its first error, here
// the duplicate key of a cell already folded.)
func TestWriteCellsAfterPartialFold(t *testing.T) {
	ctx := context.Background()
	s, err := OpenOptions(ctx, mongotest.URI(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const seq = 1000
	keys := make([]tally.CellKey, 6)
	var group cellChanges
	for i := range keys {
		keys[i] = tally.CellKey{Bucket: 1793577600, DeviceType: tally.DeviceMobile, Category: tally.NoCategory, Client: int32(i + 1)}
		group.add(keys[i], 1, tally.MustDecimal("2.5"))
	}
	// The first roller reached the first and the fourth cell.
	for _, i := range []int{0, 3} {
		var c cellChanges
		c.add(keys[i], 1, tally.MustDecimal("2.5"))
		if err := s.writeCells(ctx, seq, &c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.writeCells(ctx, seq, &group); err != nil {
		t.Fatalf("writeCells: %v", err)
	}
	for i, k := range keys {
		var got cellDoc
		err := s.cells.FindOne(ctx, bson.D{{Key: "_id", Value: cellID(k)}}).Decode(&got)
		switch {
		case err != nil:
			t.Errorf("cell %d: %v", i, err)
		case got.Count != 1 || got.sum() != tally.MustDecimal("2.5") || got.Seq != seq:
			t.Errorf("cell %d: count %d sum %s seq %d, want 1 2.5 %d", i, got.Count, got.sum(), got.Seq, seq)
		}
	}
}
