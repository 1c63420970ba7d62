package load

import (
	"net/url"
	"time"

	"github.com/tallyhq/tally/bench"
)

// Query is one report the mix asks for.
type Query struct {
	Name   string
	Params url.Values // the query string of GET /report
	CSV    bool       // the answer is text/csv
}

// Queries returns the reports of the mix over events whose last day ends at
// end: the benchmark's six standard reports, and the extensions a dashboard
// uses (local hours, a top list, a CSV export).
func Queries(end time.Time) []Query {
	var qs []Query
	for _, q := range bench.StandardQueries(end) {
		qs = append(qs, Query{Name: q.Name, Params: q.Params()})
	}
	day := func(n int) string { return end.AddDate(0, 0, -n).Format(time.DateOnly) }
	return append(qs,
		Query{Name: "tz-hour", Params: url.Values{
			"group_by": {"date device_type"}, "granularity": {"hour"}, "tz": {"America/New_York"},
			"start_date": {day(1)}, "end_date": {day(0)}, "limit": {"200"},
		}},
		Query{Name: "top-clients", Params: url.Values{
			"group_by": {"client"}, "order_by": {"-count"}, "start_date": {day(7)}, "limit": {"10"},
		}},
		Query{Name: "csv", CSV: true, Params: url.Values{
			"group_by": {"date client_group"}, "start_date": {day(30)}, "format": {"csv"},
		}},
	)
}
