package cube_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// slotZones have :30 and :45 offsets and DST changes of an hour and of 30
// minutes within the events' range.
var slotZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
	"Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns"}

// slotStart spans the northern autumn DST changes and the southern spring
// ones (Lord Howe, Chatham) of 2026.
var slotStart = time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)

const slotDays = 50

type slotEvent struct {
	k tally.CellKey // Bucket: the event's second
	v tally.Decimal
}

func randomSlotEvent(rng *rand.Rand) slotEvent {
	sec := slotStart.Unix() + rng.Int64N(slotDays*tally.SecondsPerDay)
	if rng.IntN(10) == 0 {
		sec -= sec % 1800 // on a half hour, where buckets start
	}
	k := tally.CellKey{
		Bucket:      sec,
		DeviceType:  tally.DeviceType(rng.IntN(4)),
		Category:    tally.Category(rng.IntN(4) - 1),
		Client:      int32(rng.IntN(6)),
		ClientGroup: int32(rng.IntN(3)),
		Valid:       rng.IntN(4) != 0,
	}
	if k.Category == -1 {
		k.Category = tally.NoCategory
	}
	v := tally.DecimalFromMicros(int64(rng.IntN(40000)-20000) * 10_000)
	if rng.IntN(20) == 0 {
		v = v.Add(tally.MaxValue)
	}
	return slotEvent{k, v}
}

func randomZoneQuery(rng *rand.Rand, zones []*time.Location) tally.ReportQuery {
	q := randomQuery(rng)
	q.Location = zones[rng.IntN(len(zones))]
	q.Granularity = tally.Granularity(rng.IntN(4))
	f := &q.Filter
	f.From, f.To = time.Time{}, time.Time{}
	midnight := func() time.Time {
		d := slotStart.AddDate(0, 0, rng.IntN(slotDays+4)-2)
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, q.Location)
	}
	switch rng.IntN(6) {
	case 0, 1: // local days, as the API sends
		f.From = midnight()
		f.To = f.From.AddDate(0, 0, rng.IntN(20))
	case 2:
		f.From = midnight()
	case 3:
		f.To = midnight()
	case 4: // whole hours, within one UTC day or across several
		f.From = slotStart.Add(time.Duration(rng.IntN(slotDays*24)) * time.Hour)
		f.To = f.From.Add(time.Duration(rng.IntN(72)) * time.Hour)
	}
	return q
}

// loadSlotZones loads slotZones.
func loadSlotZones(t *testing.T) []*time.Location {
	t.Helper()
	var zones []*time.Location
	for _, name := range slotZones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	return zones
}

// Reports in any zone and granularity answered from sub-day rollups equal
// the Aggregator fed every raw event, exactly, with the rollups built from a
// snapshot while changes kept arriving.
func TestSlotReports(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	zones := loadSlotZones(t)

	c := cube.New()
	var live []slotEvent
	add := func(e slotEvent, count int64) {
		k := e.k
		k.Bucket -= k.Bucket % cube.SlotWidth // as a store sends changes
		v := e.v
		if count < 0 {
			v = v.Neg()
		}
		c.Add(k, count, v)
	}
	for range 3000 {
		e := randomSlotEvent(rng)
		add(e, 1)
		live = append(live, e)
	}

	built := 0
	for i := range 400 {
		// One build serves the rollups of up to three queries at once, as
		// the SQLite store's builds do for the reports that wait.
		qs := make([]tally.ReportQuery, 1+rng.IntN(3))
		var needs []cube.SlotNeed
		for j := range qs {
			qs[j] = randomZoneQuery(rng, zones)
			if err := qs[j].Normalize(); err != nil {
				t.Fatal(err)
			}
			need, ok := c.SlotNeed(&qs[j])
			if ok && qs[j].InUTCDays() {
				t.Fatalf("query %d: a rollup is needed for a query in UTC days", i)
			}
			if ok {
				needs = append(needs, need)
			}
		}
		if b, ok := c.BeginSlots(needs...); ok {
			built++
			// The snapshot is the events stored now; changes made while
			// the build reads it must be counted once.
			snapshot := append([]slotEvent(nil), live...)
			for range 50 {
				e := randomSlotEvent(rng)
				add(e, 1)
				live = append(live, e)
			}
			j := rng.IntN(len(live))
			add(live[j], -1)
			live = append(live[:j], live[j+1:]...)
			for _, e := range snapshot {
				b.Add(e.k, 1, e.v)
			}
			b.Finish()
		}
		for _, q := range qs {
			got, ok := c.Report(&q)
			if q.InUTCDays() {
				continue // answered from day cells, tested elsewhere
			}
			if !ok {
				t.Fatalf("query %d not answered from its rollup: %+v", i, q)
			}
			if _, ok := c.SlotNeed(&q); ok {
				t.Fatalf("query %d: answered, yet its rollup is still needed", i)
			}
			a := tally.NewAggregator(&q)
			for _, e := range live {
				a.Add(e.k, 1, e.v)
			}
			want := a.Report()
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("query %d in %s (-want +got):\n%s\nquery %+v", i, q.Location, diff, q)
			}
		}
		// Changes after the build reach the rollups too.
		e := randomSlotEvent(rng)
		add(e, 1)
		live = append(live, e)
		if rng.IntN(3) == 0 {
			j := rng.IntN(len(live))
			add(live[j], -1)
			live = append(live[:j], live[j+1:]...)
		}
	}
	if built == 0 {
		t.Fatal("no rollup was built")
	}
}

// A projection too large for the budget is not built, and queries that need
// it are left to the store.
func TestSlotBudget(t *testing.T) {
	c := cube.NewWithSlotBudget(100)
	rng := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		e := randomSlotEvent(rng)
		e.k.Bucket -= e.k.Bucket % cube.SlotWidth
		c.Add(e.k, 1, e.v)
	}
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient, tally.ColDate}, Granularity: tally.Hour}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	need, ok := c.SlotNeed(&q)
	if !ok {
		t.Fatal("a rollup not yet refused is not needed")
	}
	if _, ok := c.BeginSlots(need); ok {
		t.Fatal("a rollup over the budget was begun")
	}
	if _, ok := c.SlotNeed(&q); ok {
		t.Fatal("a refused rollup is still worth waiting for")
	}
	if _, ok := c.Report(&q); ok {
		t.Fatal("a report was answered without its rollup")
	}
}

// A budget of 0 turns the sub-day rollups off, even on an empty cube.
func TestSlotsOff(t *testing.T) {
	q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Hour}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	c := cube.NewWithSlotBudget(0)
	if _, ok := c.SlotNeed(&q); ok {
		t.Fatal("a rollup is needed with a budget of 0")
	}
}
