package mongo_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
	"github.com/tallyhq/tally/storetest"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// zonedQueries are reports that day cells cannot answer: other zones, by
// hour, bounds off UTC midnight, :30 and :45 offsets and a 30-minute DST
// shift among them.
func zonedQueries(t *testing.T) []tally.ReportQuery {
	t.Helper()
	berlin, ny := mustZone(t, "Europe/Berlin"), mustZone(t, "America/New_York")
	qs := []tally.ReportQuery{
		{GroupBy: []tally.Column{tally.ColDate}, Location: berlin},
		{GroupBy: []tally.Column{tally.ColDate, tally.ColDeviceType}, Granularity: tally.Hour, Location: mustZone(t, "Asia/Kathmandu")},
		{GroupBy: []tally.Column{tally.ColClient}, Location: ny,
			Filter: tally.Filter{From: time.Date(2026, 11, 2, 0, 0, 0, 0, ny)}},
		{GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Week, Location: mustZone(t, "Australia/Lord_Howe")},
		{GroupBy: []tally.Column{tally.ColDate, tally.ColClient}, Granularity: tally.Hour, Location: mustZone(t, "Asia/Kolkata")},
		{GroupBy: []tally.Column{tally.ColDate, tally.ColValid}, Granularity: tally.Month, Location: mustZone(t, "Pacific/Chatham")},
		{GroupBy: []tally.Column{tally.ColCategory}, Location: mustZone(t, "America/St_Johns"),
			Filter: tally.Filter{Valid: new(true), From: day0.Add(-90 * time.Minute), To: day0.Add(50*time.Hour + 45*time.Minute)}},
		{GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Hour},
	}
	for i := range qs {
		if err := qs[i].Normalize(); err != nil {
			t.Fatal(err)
		}
	}
	return qs
}

// TestSubDayReportsFromRollups: reports in other zones and by hour are
// answered from the view's sub-day rollups, built on first use and kept
// current by later creates and deletes: no raw scan runs, and every answer
// equals the recomputation from the events.
func TestSubDayReportsFromRollups(t *testing.T) {
	var rawScans atomic.Int64
	s := openWith(t, mongotest.URI(t), mongo.Options{
		Scans: tally.ScanLimits{Started: func(context.Context) { rawScans.Add(1) }}})
	evs := randomEvents(81, 400)
	mustCreate(t, s, evs[:300])
	qs := zonedQueries(t)
	check := func(live []tally.Event) {
		t.Helper()
		for _, q := range qs {
			diffReports(t, naive(q, live), storetest.MustReport(t, s, q))
		}
	}
	check(evs[:300])
	mustCreate(t, s, evs[300:])
	for _, e := range evs[:8] {
		if err := s.DeleteEvent(context.Background(), e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeleteEvents(context.Background(), tally.Filter{Clients: []int32{3}, From: day0, To: day0.Add(7 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var live []tally.Event
	for _, e := range evs[8:] {
		if e.Client == 3 && !e.Timestamp.Before(day0) && e.Timestamp.Before(day0.Add(7*time.Hour)) {
			continue
		}
		live = append(live, e)
	}
	check(live)
	if n := rawScans.Load(); n != 0 {
		t.Errorf("%d reports read raw events, want 0: all from sub-day rollups", n)
	}
}

// TestSubDayRollupsOff: with SubDayCells negative the same reports read raw
// events, and answer the same.
func TestSubDayRollupsOff(t *testing.T) {
	var rawScans atomic.Int64
	s := openWith(t, mongotest.URI(t), mongo.Options{SubDayCells: -1,
		Scans: tally.ScanLimits{Started: func(context.Context) { rawScans.Add(1) }}})
	evs := randomEvents(82, 100)
	mustCreate(t, s, evs)
	qs := zonedQueries(t)
	for _, q := range qs {
		diffReports(t, naive(q, evs), storetest.MustReport(t, s, q))
	}
	if n := rawScans.Load(); n != int64(len(qs)) {
		t.Errorf("%d raw scans, want %d", n, len(qs))
	}
}

// TestInstancesConvergeSubDay: two instances on one database, each with
// writers creating and deleting (some of the other's events) while the
// sub-day rollups are built on both, answer every zoned and hourly report
// exactly once they are quiet.
func TestInstancesConvergeSubDay(t *testing.T) {
	uri := mongotest.URI(t)
	a, b := openStore(t, uri), openStore(t, uri)
	stores := []*mongo.Store{a, b}
	evs := randomEvents(83, 240)
	mustCreate(t, a, evs[:60])
	qs := zonedQueries(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// Four writers, two per instance: each creates its share in small
	// batches and deletes, after each batch, one of the events created
	// before through the first instance.
	for w := range 4 {
		s := stores[w%2]
		mine := evs[60+w*45 : 60+(w+1)*45]
		wg.Go(func() {
			for i := 0; i < len(mine); i += 9 {
				if _, err := s.CreateEvents(context.Background(), mine[i:i+9]); err != nil {
					fail(err)
					return
				}
				if err := s.DeleteEvent(context.Background(), evs[w*15+i/3].ID); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	// Meanwhile both instances build their rollups.
	for _, s := range stores {
		wg.Go(func() {
			for _, q := range qs {
				if _, err := s.Report(context.Background(), q); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	deleted := map[tally.ID]bool{}
	for w := range 4 {
		for i := 0; i < 45; i += 9 {
			deleted[evs[w*15+i/3].ID] = true
		}
	}
	var live []tally.Event
	for _, e := range evs {
		if !deleted[e.ID] {
			live = append(live, e)
		}
	}
	for _, q := range qs {
		want := naive(q, live)
		for _, s := range stores {
			eventually(t, s, q, want, 30*time.Second)
		}
	}
}

// TestVisibleOnOtherSubDay: a write acknowledged by one instance is in the
// other's zoned and hourly reports, answered from its rollups, within its
// poll interval plus a read of the journal. The bound checked is loose
// (the test machine is shared); the time measured is logged.
func TestVisibleOnOtherSubDay(t *testing.T) {
	uri := mongotest.URI(t)
	var rawScans atomic.Int64
	a := openWith(t, uri, mongo.Options{})
	b := openWith(t, uri, mongo.Options{Scans: tally.ScanLimits{Started: func(context.Context) { rawScans.Add(1) }}})
	q := zonedQueries(t)[1] // Kathmandu hours by device type
	all := randomEvents(84, 50)
	mustCreate(t, a, all)
	eventually(t, b, q, naive(q, all), 10*time.Second)
	var worst time.Duration
	for i := range 5 {
		evs := randomEvents(uint64(90+i), 3)
		mustCreate(t, a, evs)
		all = append(all, evs...)
		worst = max(worst, eventually(t, b, q, naive(q, all), 10*time.Second))
	}
	if n := rawScans.Load(); n != 0 {
		t.Errorf("%d reports on the other instance read raw events, want 0", n)
	}
	t.Logf("a write acknowledged on one instance reached the other's zoned reports within %s (poll %s)", worst, mongo.DefaultPoll)
}

// TestChangeStreamWakesView: on a deployment with change streams, a write
// on one instance reaches the other's reports well before its poll, which
// is set far out here. FerretDB, on which the tests run unless
// TALLY_TEST_MONGODB_URI names a replica set, has no change streams.
func TestChangeStreamWakesView(t *testing.T) {
	if !mongotest.Real() {
		t.Skip("FerretDB has no change streams; set " + mongotest.EnvURI + " to a replica set to run this")
	}
	uri := mongotest.URI(t)
	const poll = time.Minute
	a := openWith(t, uri, mongo.Options{Poll: poll})
	b := openWith(t, uri, mongo.Options{Poll: poll})
	q := zonedQueries(t)[0]
	var all []tally.Event
	storetest.MustReport(t, b, q) // builds b's rollup
	var worst time.Duration
	for i := range 5 {
		evs := randomEvents(uint64(100+i), 3)
		mustCreate(t, a, evs)
		all = append(all, evs...)
		worst = max(worst, eventually(t, b, q, naive(q, all), poll/4))
	}
	t.Logf("with change streams a write reached the other instance's reports within %s (poll %s)", worst, poll)
}
