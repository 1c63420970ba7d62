package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Two instances that answer a report differently fail the run before
// anything else is measured: the check TestRunTinyMongo relies on.
func TestMongoInstancesMustAgree(t *testing.T) {
	report := func(count int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"pagination":{"total_count":1,"offset":0,"page_size":100},`+
				`"rows":[{"valid":true,"count":%d,"sum":"%d.5","mean":1}],"totals":{"count":%d,"sum":"%d.5","mean":1}}`,
				count, count, count, count)
		})
	}
	a := httptest.NewServer(report(3))
	defer a.Close()
	b := httptest.NewServer(report(2))
	defer b.Close()
	// Never contacted: the disagreement ends the run before the raw scan.
	c, err := driver.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1").SetServerSelectionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(t.Context()) }()

	q := []Query{{Name: "Qv", GroupBy: []string{"valid"}}}
	cfg := Config{ReportRuns: 1, BaselineRuns: 1}
	logf := func(string, ...any) {}
	_, err = measureMongoReports(t.Context(), []string{a.URL, b.URL}, c.Database("x"), q, cfg, logf)
	if err == nil || !strings.Contains(err.Error(), "Qv: instance B disagrees with A") {
		t.Fatalf("measureMongoReports = %v, want B's disagreement", err)
	}
}
