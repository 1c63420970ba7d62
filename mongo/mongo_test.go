package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
	"github.com/tallyhq/tally/storetest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// openStore opens a Store on uri, closed when t ends.
func openStore(t *testing.T, uri string) *mongo.Store {
	t.Helper()
	s, err := mongo.Open(context.Background(), uri)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newStore(t *testing.T) *mongo.Store {
	t.Helper()
	return openStore(t, mongotest.URI(t))
}

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// randomEvents returns n reproducible events over a few days, clients and
// groups, with nulls, so that cells hold several events each.
func randomEvents(seed uint64, n int) []tally.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	evs := make([]tally.Event, n)
	for i := range evs {
		cat := tally.NoCategory
		if r.IntN(3) > 0 {
			cat = tally.CategoryOf(int32(r.IntN(3) - 1))
		}
		evs[i] = tally.Event{
			ID:          tally.NewID(),
			DeviceType:  tally.DeviceType(r.IntN(4)),
			Category:    cat,
			Client:      int32(r.IntN(4)),
			ClientGroup: int32(r.IntN(2)),
			Timestamp:   day0.Add(time.Duration(r.Int64N(int64(4*24*time.Hour))) - 36*time.Hour).Truncate(time.Microsecond),
			Valid:       r.IntN(2) == 0,
			Value:       tally.DecimalFromMicros(int64(r.IntN(2000)-500) * 125_000),
		}
	}
	return evs
}

// naive answers q from events in memory, one event at a time.
func naive(q tally.ReportQuery, evs []tally.Event) tally.Report {
	if err := q.Normalize(); err != nil {
		panic(err)
	}
	a := tally.NewAggregator(&q)
	for i := range evs {
		a.Add(tally.KeyOf(&evs[i], 1), 1, evs[i].Value)
	}
	return a.Report()
}

func mustCreate(t *testing.T, s tally.Store, evs []tally.Event) {
	t.Helper()
	ok, err := s.CreateEvents(context.Background(), evs)
	if err != nil {
		t.Fatalf("CreateEvents: %v", err)
	}
	for i, b := range ok {
		if !b {
			t.Fatalf("CreateEvents: event %d not inserted", i)
		}
	}
}

func diffReports(t *testing.T, want, got tally.Report) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("report mismatch (-want +got):\n%s", diff)
	}
}

func TestEventRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := []tally.Event{
		{ID: tally.NewID(), DeviceType: tally.DeviceMobile, Category: tally.CategoryOf(math.MinInt32),
			Client: math.MaxInt32, ClientGroup: math.MinInt32, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC),
			Valid: true, Value: tally.MustDecimal("-1.5")},
		{ID: tally.NewID(), DeviceType: tally.DeviceNone, Category: tally.NoCategory,
			Timestamp: tally.MinTime, Value: tally.MaxValue},
		{ID: tally.NewID(), DeviceType: tally.DeviceTablet, Category: tally.CategoryOf(math.MaxInt32),
			Timestamp: tally.MaxTime, Value: tally.MustDecimal("0.1")},
		{ID: tally.NewID(), Timestamp: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	}
	for _, e := range want {
		if err := s.CreateEvent(ctx, e); err != nil {
			t.Fatalf("CreateEvent: %v", err)
		}
		got, err := s.Event(ctx, e.ID)
		if err != nil {
			t.Fatalf("Event: %v", err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Errorf("event mismatch (-want +got):\n%s", diff)
		}
	}
}

func TestConflictsAndNotFound(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	e := randomEvents(1, 1)[0]
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	changed := e
	changed.Value = changed.Value.Add(tally.DecimalFromInt(1))
	if err := s.CreateEvent(ctx, changed); tally.ErrorCode(err) != tally.EConflict {
		t.Fatalf("second CreateEvent: got %v, want conflict", err)
	}
	other := randomEvents(2, 2)
	got, err := s.CreateEvents(ctx, []tally.Event{other[0], e, other[0], other[1]})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{true, false, false, true}, got); diff != "" {
		t.Errorf("CreateEvents (-want +got):\n%s", diff)
	}
	if stored, _ := s.Event(ctx, e.ID); stored.Value != e.Value {
		t.Errorf("conflicting write changed the stored event: value %v", stored.Value)
	}
	missing := tally.NewID()
	if _, err := s.Event(ctx, missing); tally.ErrorCode(err) != tally.ENotFound {
		t.Errorf("Event(missing): got %v, want not_found", err)
	}
	if err := s.DeleteEvent(ctx, missing); tally.ErrorCode(err) != tally.ENotFound {
		t.Errorf("DeleteEvent(missing): got %v, want not_found", err)
	}
	if err := s.DeleteEvent(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(ctx, e.ID); tally.ErrorCode(err) != tally.ENotFound {
		t.Errorf("second DeleteEvent: got %v, want not_found", err)
	}
	want := naive(tally.ReportQuery{GroupBy: tally.Dimensions}, other)
	diffReports(t, want, storetest.MustReport(t, s, tally.ReportQuery{}))
}

// TestReportShapes sends every filter and read path the store has (cells
// by day range, raw events by time range, each list filter with and
// without null) and compares with a recomputation in memory.
func TestReportShapes(t *testing.T) {
	s := newStore(t)
	evs := randomEvents(3, 400)
	mustCreate(t, s, evs)
	// Delete some, so that cells have been decremented and some emptied.
	for _, e := range evs[:40] {
		if err := s.DeleteEvent(context.Background(), e.ID); err != nil {
			t.Fatal(err)
		}
	}
	evs = evs[40:]

	yes, no := true, false
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]tally.ReportQuery{
		"all dimensions, cells":     {},
		"all dimensions, paged":     {Offset: 5, Limit: 7, OrderBy: []tally.Order{{Column: tally.ColSum, Desc: true}}},
		"by client":                 {GroupBy: []tally.Column{tally.ColClient}},
		"clients in":                {GroupBy: []tally.Column{tally.ColClient, tally.ColValid}, Filter: tally.Filter{Clients: []int32{1, 3}}},
		"client groups in":          {Filter: tally.Filter{ClientGroups: []int32{1}}},
		"device types with null":    {GroupBy: []tally.Column{tally.ColDeviceType}, Filter: tally.Filter{DeviceTypes: []tally.DeviceType{tally.DeviceNone, tally.DeviceTablet}}},
		"device types without null": {GroupBy: []tally.Column{tally.ColDeviceType}, Filter: tally.Filter{DeviceTypes: []tally.DeviceType{tally.DeviceMobile}}},
		"categories with null":      {GroupBy: []tally.Column{tally.ColCategory}, Filter: tally.Filter{Categories: []tally.Category{tally.NoCategory, 0}}},
		"categories only null":      {GroupBy: []tally.Column{tally.ColCategory}, Filter: tally.Filter{Categories: []tally.Category{tally.NoCategory}}},
		"categories without null":   {GroupBy: []tally.Column{tally.ColCategory}, Filter: tally.Filter{Categories: []tally.Category{-1, 1}}},
		"valid":                     {GroupBy: []tally.Column{tally.ColValid}, Filter: tally.Filter{Valid: &yes}},
		"invalid":                   {GroupBy: []tally.Column{tally.ColValid}, Filter: tally.Filter{Valid: &no}},
		"empty list":                {Filter: tally.Filter{Clients: []int32{}}},
		"day range, cells":          {GroupBy: []tally.Column{tally.ColDate}, Filter: tally.Filter{From: day0, To: day0.AddDate(0, 0, 1)}},
		"open start, cells":         {GroupBy: []tally.Column{tally.ColDate}, Filter: tally.Filter{To: day0}},
		"open end, cells":           {GroupBy: []tally.Column{tally.ColDate}, Filter: tally.Filter{From: day0}},
		"everything filtered":       {Filter: tally.Filter{Clients: []int32{0, 2}, ClientGroups: []int32{0}, DeviceTypes: []tally.DeviceType{tally.DeviceNone, tally.DeviceDesktop}, Categories: []tally.Category{tally.NoCategory, 1}, Valid: &yes, From: day0.AddDate(0, 0, -1), To: day0.AddDate(0, 0, 2)}},
		"hours, raw events":         {GroupBy: []tally.Column{tally.ColDate, tally.ColClient}, Granularity: tally.Hour},
		"zone, raw events":          {GroupBy: []tally.Column{tally.ColDate}, Location: berlin, Filter: tally.Filter{From: day0.In(berlin).Add(-time.Hour), To: day0.AddDate(0, 0, 1).Add(-time.Hour)}},
		"raw events, filtered":      {GroupBy: []tally.Column{tally.ColDate, tally.ColCategory}, Granularity: tally.Hour, Filter: tally.Filter{Categories: []tally.Category{tally.NoCategory}, DeviceTypes: []tally.DeviceType{tally.DeviceNone}, From: day0.Add(3 * time.Hour), To: day0.Add(30 * time.Hour)}},
		"weeks and months":          {GroupBy: []tally.Column{tally.ColDate}, Granularity: tally.Month},
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			got := storetest.MustReport(t, s, q)
			want := naive(q, evs)
			diffReports(t, want, got)
			if want.Totals.Count == 0 && name != "empty list" {
				t.Errorf("case matches no events: it tests nothing")
			}
		})
	}
}

// TestConcurrentWriters: many goroutines writing through one Store give
// exact rollups, because one writer applies every $inc.
func TestConcurrentWriters(t *testing.T) {
	s := newStore(t)
	const writers, each = 16, 25
	var (
		mu  sync.Mutex
		all []tally.Event
		wg  sync.WaitGroup
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			// Every writer hits the same few cells.
			evs := randomEvents(uint64(100+w), each)
			for i := range evs {
				evs[i].Client, evs[i].Timestamp = int32(i%2), day0.Add(time.Duration(i)*time.Minute)
				var err error
				if i%5 == 0 {
					_, err = s.CreateEvents(context.Background(), evs[i:i+1])
				} else {
					err = s.CreateEvent(context.Background(), evs[i])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			mu.Lock()
			all = append(all, evs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	q := tally.ReportQuery{}
	diffReports(t, naive(q, all), storetest.MustReport(t, s, q))
	if got := storetest.MustReport(t, s, q).Totals.Count; got != writers*each {
		t.Errorf("total count %d, want %d", got, writers*each)
	}
}

// TestTwoStores: two Stores (as two Tally processes) on one database give
// exact reports. On FerretDB they write in turn, since it loses concurrent
// $inc updates; on a real MongoDB they write at once.
func TestTwoStores(t *testing.T) {
	uri := mongotest.URI(t)
	a, b := openStore(t, uri), openStore(t, uri)
	evs := randomEvents(7, 300)
	write := func(s *mongo.Store, evs []tally.Event) error {
		for i := 0; i < len(evs); i += 10 {
			if _, err := s.CreateEvents(context.Background(), evs[i:min(i+10, len(evs))]); err != nil {
				return err
			}
		}
		return nil
	}
	if mongotest.Real() {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = write(a, evs[:150]) })
		wg.Go(func() { errs[1] = write(b, evs[150:]) })
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	} else {
		for i := 0; i < len(evs); i += 30 {
			s := a
			if i/30%2 == 1 {
				s = b
			}
			if err := write(s, evs[i:i+30]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each deletes what the other wrote.
	if err := a.DeleteEvent(context.Background(), evs[200].ID); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteEvent(context.Background(), evs[0].ID); err != nil {
		t.Fatal(err)
	}
	evs = append(evs[1:200], evs[201:]...)
	q := tally.ReportQuery{}
	want := naive(q, evs)
	// Each reads its own write at once, the other's within its poll.
	eventually(t, a, q, want, 30*time.Second)
	eventually(t, b, q, want, 30*time.Second)
}

// TestVerifyRepair simulates the crash window (a raw event written, its
// cell change lost) and a stray cell, and checks that Verify finds both and
// Repair fixes them.
func TestVerifyRepair(t *testing.T) {
	uri := mongotest.URI(t)
	s := openStore(t, uri)
	ctx := context.Background()
	evs := randomEvents(9, 50)
	mustCreate(t, s, evs)
	if d, err := s.Verify(ctx); err != nil || len(d) != 0 {
		t.Fatalf("Verify on a consistent store: %v, %v", d, err)
	}

	db := mongotest.Client(t, uri).Database(dbName(uri))
	lost := randomEvents(10, 1)[0]
	lost.Timestamp = day0.AddDate(0, 0, 30)
	// Written as schema version 1 did: the value as a double alone.
	raw := bson.M{"_id": lost.ID.String(), "device_type": nil, "category": nil, "client": lost.Client,
		"client_group": lost.ClientGroup, "timestamp": lost.Timestamp, "ts": lost.Timestamp.UnixMicro(),
		"day": lost.Timestamp.Unix(), "valid": lost.Valid, "value": lost.Value.Float64()}
	if _, err := db.Collection("events").InsertOne(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("cells").UpdateOne(ctx, bson.M{"_id": "0/null/n/0/0/false"},
		bson.M{"$inc": bson.M{"count": int64(1), "sum_hi": int64(0), "sum_lo": int64(2_500_000)}, "$setOnInsert": bson.M{"day": int64(0), "device_type": nil,
			"category": nil, "client": int32(0), "client_group": int32(0), "valid": false}},
		options.UpdateOne().SetUpsert(true)); err != nil {
		t.Fatal(err)
	}
	stray := tally.CellKey{Bucket: day0.Unix(), Client: 99, Category: tally.NoCategory}
	if _, err := db.Collection("cells").InsertOne(ctx, bson.M{"_id": fmt.Sprintf("%d/null/n/99/0/false", day0.Unix()),
		"day": day0.Unix(), "device_type": nil, "category": nil, "client": int32(99), "client_group": int32(0),
		"valid": false, "count": int64(2), "sum_hi": int64(0), "sum_lo": int64(3_000_000)}); err != nil {
		t.Fatal(err)
	}

	lostKey := tally.KeyOf(&lost, tally.SecondsPerDay)
	lostKey.DeviceType, lostKey.Category = tally.DeviceNone, tally.NoCategory
	want := []tally.CellDiff{
		{Key: tally.CellKey{Category: tally.NoCategory}, Stored: tally.Totals{Count: 1, Sum: tally.MustDecimal("2.5")}},
		{Key: stray, Stored: tally.Totals{Count: 2, Sum: tally.DecimalFromInt(3)}},
		{Key: lostKey, Recomputed: tally.Totals{Count: 1, Sum: lost.Value}},
	}
	got, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify (-want +got):\n%s", diff)
	}
	n, err := s.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("Repair wrote %d cells, want %d", n, len(want))
	}
	if d, err := s.Verify(ctx); err != nil || len(d) != 0 {
		t.Errorf("Verify after Repair: %v, %v", d, err)
	}
}

func dbName(uri string) string {
	i := len(uri) - 1
	for uri[i] != '/' {
		i--
	}
	return uri[i+1:]
}

func TestSchemaVersionNewer(t *testing.T) {
	uri := mongotest.URI(t)
	openStore(t, uri) // marks the database
	db := mongotest.Client(t, uri).Database(dbName(uri))
	if _, err := db.Collection("meta").UpdateOne(context.Background(), bson.M{"_id": "schema"},
		bson.M{"$set": bson.M{"version": mongo.SchemaVersion + 1}}); err != nil {
		t.Fatal(err)
	}
	s, err := mongo.Open(context.Background(), uri)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database with a newer schema version")
	}
	if code := tally.ErrorCode(err); code != tally.EUnavailable {
		t.Errorf("error code %q, want %q (%v)", code, tally.EUnavailable, err)
	}
	// A second Open of a current database is fine (indexes are idempotent).
	openStore(t, mongotest.URI(t))
}

func TestCloseFinishesAndRefuses(t *testing.T) {
	s, err := mongo.Open(context.Background(), mongotest.URI(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEvent(context.Background(), randomEvents(11, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEvent(context.Background(), randomEvents(12, 1)[0]); tally.ErrorCode(err) != tally.EUnavailable {
		t.Errorf("CreateEvent after Close: got %v, want unavailable", err)
	}
}

func TestOpenBadURI(t *testing.T) {
	_, err := mongo.Open(context.Background(), "postgres://nope")
	if tally.ErrorCode(err) != tally.EInvalid {
		t.Errorf("got %v, want invalid", err)
	}
}

// A database written by schema version 1 (values and sums as doubles) is
// migrated at Open: its float cells are recomputed exactly from the events,
// whose doubles give back the decimals written.
func TestMigrateFloatSchema(t *testing.T) {
	uri := mongotest.URI(t)
	ctx := context.Background()
	s, err := mongo.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	evs := randomEvents(21, 40)
	for i := range evs {
		evs[i].Value = tally.MustDecimal([]string{"0.1", "0.2", "689.84", "-0.07"}[i%4])
	}
	mustCreate(t, s, evs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it look as version 1 left it.
	db := mongotest.Client(t, uri).Database(dbName(uri))
	if _, err := db.Collection("events").UpdateMany(ctx, bson.M{},
		bson.M{"$unset": bson.M{"value_lo": "", "value_hi": ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("cells").UpdateMany(ctx, bson.M{},
		bson.M{"$unset": bson.M{"sum_hi": "", "sum_lo": ""}, "$set": bson.M{"sum": 0.30000000000000004}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("meta").UpdateOne(ctx, bson.M{"_id": "schema"}, bson.M{"$set": bson.M{"version": 1}}); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, uri)
	var want tally.Decimal
	for _, e := range evs {
		want = want.Add(e.Value)
	}
	r := storetest.MustReport(t, s2, tally.ReportQuery{GroupBy: []tally.Column{tally.ColValid}})
	if r.Totals.Count != int64(len(evs)) || r.Totals.Sum != want {
		t.Errorf("totals after the migration: %d %s, want %d %s", r.Totals.Count, r.Totals.Sum, len(evs), want)
	}
	if diffs, err := s2.Verify(ctx); err != nil || len(diffs) != 0 {
		t.Errorf("Verify after the migration: %+v, %v", diffs, err)
	}
	var meta struct {
		Version int `bson:"version"`
	}
	if err := db.Collection("meta").FindOne(ctx, bson.M{"_id": "schema"}).Decode(&meta); err != nil || meta.Version != mongo.SchemaVersion {
		t.Errorf("schema version %d, %v; want %d", meta.Version, err, mongo.SchemaVersion)
	}
}

// TestSecondaryPreferredURI: a URI that asks for secondary reads still
// writes, and reads back what it wrote, because the store reads at the
// primary.
func TestSecondaryPreferredURI(t *testing.T) {
	uri := mongotest.URI(t)
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	s := openStore(t, uri+sep+"readPreference=secondaryPreferred")
	evs := randomEvents(31, 20)
	mustCreate(t, s, evs)
	if _, err := s.Event(context.Background(), evs[0].ID); err != nil {
		t.Fatalf("Event: %v", err)
	}
	q := tally.ReportQuery{}
	diffReports(t, naive(q, evs), storetest.MustReport(t, s, q))
}
