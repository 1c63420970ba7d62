package mongo_test

import (
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/storetest"
)

// TestConformance runs the suite every store passes. The randomized part is
// kept small: FerretDB scans a collection for every update, and its speed
// says nothing about MongoDB's.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tally.Store { return newStore(t) },
		storetest.Options{RandomEvents: 600, RandomQueries: 60})
}
