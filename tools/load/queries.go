package load

import (
	"net/url"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/bench"
)

// Query is one report the mix asks for.
type Query struct {
	Name  string
	Query client.Query
	CSV   bool // asked as text/csv
}

// Params returns the query string the report is asked with.
func (q *Query) Params() url.Values {
	v := q.Query.Values()
	if q.CSV {
		v.Set("format", "csv")
	}
	return v
}

// Queries returns the reports of the mix over events whose last day ends at
// end: the benchmark's six standard reports, and the extensions a dashboard
// uses (local hours, a top list, a CSV export).
func Queries(end time.Time) []Query {
	var qs []Query
	for _, q := range bench.StandardQueries(end) {
		qs = append(qs, Query{Name: q.Name, Query: q.Client()})
	}
	day := func(n int) time.Time { return end.AddDate(0, 0, -n) }
	return append(qs,
		Query{Name: "tz-hour", Query: client.Query{
			GroupBy:     []tally.Column{tally.ColDate, tally.ColDeviceType},
			Granularity: tally.Hour, TZ: "America/New_York",
			StartDate: day(1), EndDate: day(0), Limit: 200,
		}},
		Query{Name: "top-clients", Query: client.Query{
			GroupBy: []tally.Column{tally.ColClient}, OrderBy: []tally.Order{{Column: tally.ColCount, Desc: true}},
			StartDate: day(7), Limit: 10,
		}},
		Query{Name: "csv", CSV: true, Query: client.Query{
			GroupBy: []tally.Column{tally.ColDate, tally.ColClientGroup}, StartDate: day(30),
		}},
	)
}
