package mongo_test

import (
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/testbin"
	"github.com/tallyhq/tally/mongo/mongotest"
	"github.com/tallyhq/tally/tools/crashtest"
)

// TestCrashSafety kills the real server ten times under load on one
// database. Acknowledged events must survive and deleted ones stay gone,
// and the cells must verify clean with no repair: without transactions
// (FerretDB, a standalone MongoDB) the roller resolves the journal entries
// a killed instance left open once its lease has expired.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary; skipped with -short")
	}
	res := crashtest.Run(t, crashtest.Options{
		Binary: testbin.Build(t),
		Store:  mongotest.URI(t),
		Exact:  true,
		Batch:  10,              // FerretDB writes slowly; small batches keep the kills inside them
		Run:    2 * time.Second, // and a little longer between kills, so that some writes finish
	})
	if res.Drifted != 0 {
		t.Errorf("cells drifted: %d", res.Drifted)
	}
}
