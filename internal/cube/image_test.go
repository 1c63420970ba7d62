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
	const cell = 38
	first := b[12 : 12+cell]
	second := bytes.Clone(b[12+cell : 12+2*cell])
	copy(b[12+cell:], first)
	copy(b[12:], second)
	if _, _, err := cube.ReadImage(bytes.NewReader(b), 0); !errors.Is(err, cube.ErrBadImage) {
		t.Fatalf("an image with cells out of order: %v, want ErrBadImage", err)
	}
}

// Built sub-day rollups go into the image and come back ready: the reports
// they answer equal the original cube's, before and after further changes,
// with no build. An image read under a smaller budget drops them, to be
// built again on first use.
func TestImageSubDayRollups(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	zones := loadSlotZones(t)
	c := cube.New()
	add := func(c *cube.Cube, e slotEvent, n int64) {
		k := e.k
		k.Bucket -= k.Bucket % cube.SlotWidth
		v := e.v
		if n < 0 {
			v = v.Neg()
		}
		c.Add(k, n, v)
	}
	var events []slotEvent
	for range 3000 {
		e := randomSlotEvent(rng)
		events = append(events, e)
		add(c, e, 1)
	}
	var (
		qs    []tally.ReportQuery
		needs []cube.SlotNeed
	)
	for len(qs) < 20 {
		q := randomZoneQuery(rng, zones)
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		if need, ok := c.SlotNeed(&q); ok {
			qs = append(qs, q)
			needs = append(needs, need)
		}
	}
	b, ok := c.BeginSlots(needs...)
	if !ok {
		t.Fatal("no rollup begun")
	}
	for _, e := range events {
		b.Add(e.k, 1, e.v)
	}
	b.Finish()

	var img bytes.Buffer
	if err := c.WriteImage(&img); err != nil {
		t.Fatal(err)
	}
	got, _, err := cube.ReadImage(bytes.NewReader(img.Bytes()), cube.DefaultSlotBudget)
	if err != nil {
		t.Fatal(err)
	}
	compare := func(when string) {
		t.Helper()
		for _, q := range qs {
			if _, ok := got.SlotNeed(&q); ok {
				t.Fatalf("%s: the rollup of %+v in %s is to be built again", when, q.GroupBy, q.Location)
			}
			want, wok := c.Report(&q)
			have, hok := got.Report(&q)
			if wok != hok {
				t.Fatalf("%s: answered %v from the original, %v from the image", when, wok, hok)
			}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Fatalf("%s: %+v in %s (-original +image):\n%s", when, q.GroupBy, q.Location, diff)
			}
		}
	}
	compare("read back")
	for range 500 {
		e := randomSlotEvent(rng)
		add(c, e, 1)
		add(got, e, 1)
		victim := events[rng.IntN(len(events))]
		add(c, victim, -1)
		add(got, victim, -1)
	}
	compare("after changes")

	small, _, err := cube.ReadImage(bytes.NewReader(img.Bytes()), 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := small.SlotNeed(&qs[0]); !ok {
		t.Fatal("a rollup over the reader's budget was kept")
	}
}
