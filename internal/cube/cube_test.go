package cube_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

const days = 40

// randomCells returns cell changes as a store would send them: additions
// of events, and some taken back out again.
func randomCells(rng *rand.Rand, n int) []tally.Row {
	var out []tally.Row
	for range n {
		k := tally.CellKey{
			Bucket:      int64(rng.IntN(days)-5) * tally.SecondsPerDay, // a few days before 1970 too
			DeviceType:  tally.DeviceType(rng.IntN(4)),
			Category:    tally.Category(rng.IntN(5) - 1),
			Client:      int32(rng.IntN(12)),
			ClientGroup: int32(rng.IntN(3)),
			Valid:       rng.IntN(5) != 0,
		}
		if k.Category == -1 {
			k.Category = tally.NoCategory
		}
		// Cents next to the largest values, both signs: sums must come out
		// exact whatever the order of additions and deletions.
		v := tally.DecimalFromMicros(int64(rng.IntN(40000)-20000) * 10_000)
		if rng.IntN(20) == 0 {
			v = v.Add(tally.MaxValue)
		}
		out = append(out, tally.Row{Key: k, Count: 1, Sum: v})
		if rng.IntN(10) == 0 { // delete it again
			out = append(out, tally.Row{Key: k, Count: -1, Sum: v.Neg()})
		}
	}
	return out
}

func randomQuery(rng *rand.Rand) tally.ReportQuery {
	var q tally.ReportQuery
	for _, c := range rng.Perm(len(tally.Dimensions)) {
		if rng.IntN(2) == 0 {
			q.GroupBy = append(q.GroupBy, tally.Dimensions[c])
		}
	}
	if rng.IntN(4) == 0 {
		q.GroupBy = nil // the default, all six: one row per cell
	}
	cols := append([]tally.Column{tally.ColCount, tally.ColSum, tally.ColMean}, q.GroupBy...)
	for _, i := range rng.Perm(len(cols))[:rng.IntN(3)] {
		q.OrderBy = append(q.OrderBy, tally.Order{Column: cols[i], Desc: rng.IntN(2) == 0})
	}
	if rng.IntN(3) == 0 {
		q.OrderBy = nil
	}
	f := &q.Filter
	if rng.IntN(4) == 0 {
		f.Clients = []int32{int32(rng.IntN(12)), int32(rng.IntN(12))}
	}
	if rng.IntN(6) == 0 {
		f.ClientGroups = []int32{int32(rng.IntN(3))}
	}
	if rng.IntN(5) == 0 {
		f.DeviceTypes = []tally.DeviceType{tally.DeviceNone, tally.DeviceType(rng.IntN(4))}
	}
	if rng.IntN(5) == 0 {
		f.Categories = []tally.Category{tally.NoCategory, tally.Category(rng.IntN(4))}
	}
	if rng.IntN(5) == 0 {
		v := rng.IntN(2) == 0
		f.Valid = &v
	}
	if rng.IntN(2) == 0 {
		from := rng.IntN(days) - 5
		f.From = time.Unix(int64(from)*tally.SecondsPerDay, 0)
		f.To = f.From.AddDate(0, 0, rng.IntN(20))
	}
	q.Granularity = []tally.Granularity{tally.Day, tally.Day, tally.Week, tally.Month}[rng.IntN(4)]
	q.Offset = rng.IntN(30)
	q.Limit = rng.IntN(50) // 0: every row
	return q
}

// The cube must answer exactly as the aggregator fed every cell, which the
// store conformance suite checks against a naive recomputation.
func TestReportMatchesAggregator(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	c := cube.New()
	changes := randomCells(rng, 5000)
	net := map[tally.CellKey]tally.Row{}
	for _, ch := range changes {
		c.Add(ch.Key, ch.Count, ch.Sum)
		r := net[ch.Key]
		r.Count += ch.Count
		r.Sum = r.Sum.Add(ch.Sum)
		net[ch.Key] = r
	}
	for i := range 500 {
		q := randomQuery(rng)
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		a := tally.NewAggregator(&q)
		for k, r := range net {
			a.Add(k, r.Count, r.Sum)
		}
		want := a.Report()
		got, ok := c.Report(&q)
		if !ok {
			t.Fatalf("query %d not served: %+v", i, q)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-9, 0), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("seed %d query %d %+v (-want +got):\n%s", seed, i, q, diff)
		}
	}
}

func TestReportRefusesWhatItCannotServe(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	c := cube.New()
	for _, q := range []tally.ReportQuery{
		{Granularity: tally.Hour},
		{Location: berlin},
		{Filter: tally.Filter{From: time.Unix(3600, 0)}},
	} {
		if err := q.Normalize(); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Report(&q); ok {
			t.Errorf("served %+v", q)
		}
	}
}

func TestCellsAfterDeletes(t *testing.T) {
	c := cube.New()
	k := tally.CellKey{Bucket: 3 * tally.SecondsPerDay, Category: tally.NoCategory, Client: 1}
	c.Add(k, 2, tally.DecimalFromInt(5))
	c.Add(k, -2, tally.DecimalFromInt(-5))
	k2 := k
	k2.Category = 0
	c.Add(k2, 1, tally.DecimalFromMicros(1_500_000))
	var got []string
	c.Cells(func(k tally.CellKey, n int64, sum tally.Decimal) {
		got = append(got, fmt.Sprintf("%d/%d:%d:%s", k.Bucket, k.Category, n, sum))
	})
	if diff := cmp.Diff([]string{fmt.Sprintf("%d/0:1:1.5", 3*tally.SecondsPerDay)}, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
}

// Concurrent writers and readers must not race (run with -race) and the
// final answer must count every write.
func TestConcurrentAddAndReport(t *testing.T) {
	c := cube.New()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for _, ch := range randomCells(rng, 500) {
				c.Add(ch.Key, ch.Count, ch.Sum)
			}
		})
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range 50 {
				q := randomQuery(rng)
				if err := q.Normalize(); err != nil {
					t.Error(err)
					return
				}
				c.Report(&q)
			}
		})
	}
	wg.Wait()
	var want int64
	for w := range 4 {
		for _, ch := range randomCells(rand.New(rand.NewPCG(uint64(w), 2)), 500) {
			want += ch.Count
		}
	}
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColValid}}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	r, _ := c.Report(&q)
	if r.Totals.Count != want {
		t.Errorf("totals %+v, want count %d", r.Totals, want)
	}
}

// DayCells lists one day's non-empty cells in the contract's key order, with
// the same totals as Cells.
func TestDayCells(t *testing.T) {
	c := cube.New()
	for _, r := range randomCells(rand.New(rand.NewPCG(9, 9)), 3000) {
		c.Add(r.Key, r.Count, r.Sum)
	}
	want := map[int64][]tally.Row{}
	c.Cells(func(k tally.CellKey, n int64, s tally.Decimal) {
		want[k.Bucket] = append(want[k.Bucket], tally.Row{Key: k, Count: n, Sum: s})
	})
	less := func(a, b tally.Row) bool {
		x, y := a.Key, b.Key
		switch {
		case x.DeviceType != y.DeviceType:
			return x.DeviceType < y.DeviceType
		case x.Category != y.Category:
			return x.Category < y.Category
		case x.Client != y.Client:
			return x.Client < y.Client
		case x.ClientGroup != y.ClientGroup:
			return x.ClientGroup < y.ClientGroup
		}
		return !x.Valid && y.Valid
	}
	for d := int64(-6); d <= days; d++ {
		var got []tally.Row
		c.DayCells(d*tally.SecondsPerDay, func(k tally.CellKey, n int64, s tally.Decimal) {
			got = append(got, tally.Row{Key: k, Count: n, Sum: s})
		})
		for i := 1; i < len(got); i++ {
			if !less(got[i-1], got[i]) {
				t.Fatalf("day %d: cell %d %+v not after %+v", d, i, got[i].Key, got[i-1].Key)
			}
		}
		if diff := cmp.Diff(want[d*tally.SecondsPerDay], got, cmpopts.SortSlices(less), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("day %d (-want +got):\n%s", d, diff)
		}
	}
}
