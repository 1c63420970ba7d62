package mongo_test

import (
	"net/http/httptest"
	"testing"

	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/api/apitest"
)

// TestHTTPConformance runs the HTTP scenarios every store must pass, many
// clients posting at once to one handler among them, on the MongoDB store.
func TestHTTPConformance(t *testing.T) {
	apitest.Run(t, func(t *testing.T) string {
		h, err := api.NewHandler(api.Config{Store: newStore(t)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	})
}
