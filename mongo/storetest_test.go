package mongo_test

import (
	"context"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/mongo/mongotest"
	"github.com/tallyhq/tally/storetest"
)

// TestConformance runs the suite every store passes. The randomized part is
// kept small: FerretDB scans a collection for every update, and its speed
// says nothing about MongoDB's.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tally.Store { return newStore(t) },
		storetest.Options{RandomEvents: 600, RandomQueries: 60})
}

// TestHeavyReports checks the bounds of raw scans, with the sub-day rollups
// off so that its hour and zone reports scan, as on SQLite.
func TestHeavyReports(t *testing.T) {
	storetest.RunHeavyReports(t, func(t *testing.T, l tally.ScanLimits) tally.Store {
		s, err := mongo.OpenOptions(context.Background(), mongotest.URI(t), mongo.Options{Scans: l, SubDayCells: -1})
		if err != nil {
			t.Fatalf("OpenOptions: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

// TestPoolRoomForScans: a pool the report scans could fill is refused
// before anything connects.
func TestPoolRoomForScans(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want string
	}{
		{"mongodb://127.0.0.1:1/x?maxPoolSize=3", tally.EInvalid},
		{"mongodb://127.0.0.1:1/x?maxPoolSize=2&connectTimeoutMS=1", tally.EInvalid},
	} {
		_, err := mongo.OpenOptions(context.Background(), tc.uri, mongo.Options{Scans: tally.ScanLimits{Max: 2}})
		if got := tally.ErrorCode(err); got != tc.want {
			t.Errorf("OpenOptions(%s): %v, want code %q", tc.uri, err, tc.want)
		}
	}
}
