package cube_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

func cellsOf(c *cube.Cube) []tally.Row {
	var rows []tally.Row
	c.Cells(func(k tally.CellKey, count int64, sum tally.Decimal) {
		rows = append(rows, tally.Row{Key: k, Count: count, Sum: sum})
	})
	return rows
}

// An image holds every cell, merged (cells first seen since the last
// merge, cells emptied by deletes) and sorted, and reads back to a cube
// with the same cells; a truncated or disordered one is refused.
func TestImageRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c := cube.New()
	for _, phase := range []int{3000, 200} { // the second phase stays unmerged
		for _, r := range randomCells(rng, phase) {
			c.Add(r.Key, r.Count, r.Sum)
		}
	}
	var img bytes.Buffer
	if err := c.WriteImage(&img); err != nil {
		t.Fatal(err)
	}
	got, events, err := cube.ReadImage(bytes.NewReader(img.Bytes()), cube.DefaultSlotBudget)
	if err != nil {
		t.Fatal(err)
	}
	want := cellsOf(c)
	var n int64
	for _, r := range want {
		n += r.Count
	}
	if events != n {
		t.Errorf("ReadImage counted %d events, want %d", events, n)
	}
	byKey := func(rows []tally.Row) map[tally.CellKey]tally.Row {
		m := make(map[tally.CellKey]tally.Row)
		for _, r := range rows {
			m[r.Key] = r
		}
		return m
	}
	if diff := cmp.Diff(byKey(want), byKey(cellsOf(got))); diff != "" {
		t.Fatalf("cells after a round trip (-want +got):\n%s", diff)
	}
	for i := 0; i < img.Len(); i += 997 {
		if _, _, err := cube.ReadImage(bytes.NewReader(img.Bytes()[:i]), 0); err == nil {
			t.Fatalf("an image cut to %d of %d bytes was read", i, img.Len())
		}
	}
	// Swap the first two cells of the first day: keys out of order.
	b := bytes.Clone(img.Bytes())
	const cell = 37
	first := b[12 : 12+cell]
	second := bytes.Clone(b[12+cell : 12+2*cell])
	copy(b[12+cell:], first)
	copy(b[12:], second)
	if _, _, err := cube.ReadImage(bytes.NewReader(b), 0); !errors.Is(err, cube.ErrBadImage) {
		t.Fatalf("an image with cells out of order: %v, want ErrBadImage", err)
	}
}
