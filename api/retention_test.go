package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
)

// With a retention, an event already past it is refused (400 on POST
// /event, rejected in a batch); newer ones are stored.
func TestRetentionRefusesExpiredEvents(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ts := newServer(t, func(c *apiConfig) {
		c.Retention = tally.Retention{Age: 30 * 24 * time.Hour}
		c.Now = func() time.Time { return now }
	})
	event := func(ts string) string {
		return `{"client":1,"client_group":1,"timestamp":"` + ts + `","valid":true,"value":1}`
	}
	r := ts.post(t, "/event", event("2026-10-31T11:59:59Z"))
	if r.Status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "timestamp: is before 2026-10-31T12:00:00Z") {
		t.Errorf("expired event: %d %s", r.Status, r.Body)
	}
	if r := ts.post(t, "/event", event("2026-10-31T12:00:00Z")); r.Status != http.StatusCreated {
		t.Errorf("event at the cutoff: %d %s", r.Status, r.Body)
	}
	r = ts.post(t, "/events", "["+event("2026-01-01T00:00:00Z")+","+event("2026-11-30T00:00:00Z")+"]")
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"accepted":1,`) ||
		!strings.Contains(string(r.Body), `"index":0,"id":null,"message":"timestamp: is before`) {
		t.Errorf("batch: %d %s", r.Status, r.Body)
	}
}
