package mongo_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
	"github.com/tallyhq/tally/storetest"
)

// openWith opens a Store on uri with o, closed when t ends.
func openWith(t *testing.T, uri string, o mongo.Options) *mongo.Store {
	t.Helper()
	s, err := mongo.OpenOptions(context.Background(), uri, o)
	if err != nil {
		t.Fatalf("OpenOptions: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// eventually waits up to limit for s to answer q as want, and returns how
// long that took.
func eventually(t *testing.T, s tally.Store, q tally.ReportQuery, want tally.Report, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := storetest.MustReport(t, s, q)
		if cmp.Equal(want, got, cmpopts.EquateEmpty()) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			diffReports(t, want, got)
			t.FailNow()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInstancesConverge: two instances on one database, each with
// concurrent writers creating and deleting (some of the other's events),
// answer exactly the naive recomputation once they are quiet, and the
// cells the roller folded verify clean.
func TestInstancesConverge(t *testing.T) {
	uri := mongotest.URI(t)
	a, b := openStore(t, uri), openStore(t, uri)
	evs := randomEvents(41, 240)
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
	// Four writers, two per instance, over the same few cells.
	for w := range 4 {
		s := []*mongo.Store{a, b}[w%2]
		mine := evs[w*60 : (w+1)*60]
		wg.Go(func() {
			for i := 0; i < len(mine); i += 6 {
				if _, err := s.CreateEvents(context.Background(), mine[i:i+6]); err != nil {
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
	// Each instance deletes events the other wrote, concurrently.
	for w := range 2 {
		s := []*mongo.Store{b, a}[w]
		wg.Go(func() {
			for i := w * 60; i < w*60+10; i++ {
				if err := s.DeleteEvent(context.Background(), evs[i].ID); err != nil {
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
	kept := append(append([]tally.Event{}, evs[10:60]...), evs[70:]...)
	for _, q := range []tally.ReportQuery{{}, {GroupBy: []tally.Column{tally.ColClient}}} {
		want := naive(q, kept)
		for _, s := range []*mongo.Store{a, b} {
			eventually(t, s, q, want, 30*time.Second)
		}
	}
	if d, err := a.Verify(context.Background()); err != nil || len(d) != 0 {
		t.Errorf("Verify: %v, %v", d, err)
	}
}

// TestVisibleOnOther: a write acknowledged by one instance is in the other
// instance's reports within its poll interval plus a read of the journal.
// The bound checked here is loose (the test machine is shared); the time
// measured is logged.
func TestVisibleOnOther(t *testing.T) {
	uri := mongotest.URI(t)
	a := openWith(t, uri, mongo.Options{})
	b := openWith(t, uri, mongo.Options{})
	var worst time.Duration
	var all []tally.Event
	for i := range 5 {
		evs := randomEvents(uint64(50+i), 5)
		mustCreate(t, a, evs)
		all = append(all, evs...)
		// Read-your-writes on a, at once.
		q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColValid}}
		want := naive(q, all)
		diffReports(t, want, storetest.MustReport(t, a, q))
		worst = max(worst, eventually(t, b, q, want, 10*time.Second))
	}
	t.Logf("a write acknowledged on one instance reached the other's reports within %s (poll %s)", worst, mongo.DefaultPoll)
}

// TestAbandonedEntry: an instance that died mid-batch (its journal entry
// written, some of its events inserted, one delete marked, no resolution,
// and a number taken but never written) is resolved by the roller once its
// lease has expired: the reports and the cells converge with no repair.
func TestAbandonedEntry(t *testing.T) {
	uri := mongotest.URI(t)
	s := openWith(t, uri, mongo.Options{Lease: time.Second})
	evs := randomEvents(61, 30)
	mustCreate(t, s, evs[:20])

	ctx := context.Background()
	db := mongotest.Client(t, uri).Database(dbName(uri))
	var m struct {
		Next int64 `bson:"next"`
	}
	if err := db.Collection("meta").FindOneAndUpdate(ctx, bson.M{"_id": "journal"}, bson.M{"$inc": bson.M{"next": int64(2)}}).Decode(&m); err != nil {
		t.Fatal(err)
	}
	seq := m.Next + 1 // seq+1 is taken and never written
	doc := func(e tally.Event) bson.M {
		_, vlo := e.Value.Parts()
		var dt, cat any
		if e.DeviceType != tally.DeviceNone {
			dt = e.DeviceType.String()
		}
		if e.Category != tally.NoCategory {
			cat = int32(e.Category)
		}
		return bson.M{"_id": e.ID.String(), "device_type": dt, "category": cat, "client": e.Client,
			"client_group": e.ClientGroup, "timestamp": e.Timestamp, "ts": e.Timestamp.UnixMicro(),
			"day": tally.KeyOf(&e, tally.SecondsPerDay).Bucket, "valid": e.Valid, "value": e.Value.Float64(),
			"value_lo": vlo, "j": seq}
	}
	var docs bson.A
	for _, e := range evs[20:] {
		docs = append(docs, doc(e))
	}
	if _, err := db.Collection("journal").InsertOne(ctx, bson.M{"_id": seq, "at": time.Now(), "by": "dead",
		"events": docs, "deletes": bson.A{evs[0].ID.String()}, "done": false}); err != nil {
		t.Fatal(err)
	}
	// It died after inserting six of its ten events and marking its delete.
	if _, err := db.Collection("events").InsertMany(ctx, []any{docs[0], docs[1], docs[2], docs[3], docs[4], docs[5]}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("events").UpdateOne(ctx, bson.M{"_id": evs[0].ID.String()}, bson.M{"$set": bson.M{"del": seq}}); err != nil {
		t.Fatal(err)
	}

	kept := append(append([]tally.Event{}, evs[1:20]...), evs[20:26]...)
	q := tally.ReportQuery{}
	eventually(t, s, q, naive(q, kept), 30*time.Second)
	if d, err := s.Verify(ctx); err != nil || len(d) != 0 {
		t.Errorf("Verify: %v, %v", d, err)
	}
	if _, err := s.Event(ctx, evs[0].ID); tally.ErrorCode(err) != tally.ENotFound {
		t.Errorf("Event of the deleted event: %v, want not found", err)
	}
	// A new instance loads the converged cells.
	diffReports(t, naive(q, kept), storetest.MustReport(t, openStore(t, uri), q))
}

// TestRepairRefusedBesideInstances: repair refuses while another instance
// holds a lease, and the store stays consistent meanwhile.
func TestRepairRefusedBesideInstances(t *testing.T) {
	uri := mongotest.URI(t)
	a, b := openStore(t, uri), openStore(t, uri)
	mustCreate(t, b, randomEvents(71, 20))
	_, err := a.Repair(context.Background())
	if tally.ErrorCode(err) != tally.EUnavailable {
		t.Fatalf("Repair beside a live instance: %v, want unavailable", err)
	}
	t.Logf("refusal: %v", err)
	if d, err := a.Verify(context.Background()); err != nil || len(d) != 0 {
		t.Errorf("Verify: %v, %v", d, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Repair(context.Background()); err != nil {
		t.Errorf("Repair once the other instance closed: %v", err)
	}
}
