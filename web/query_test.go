package web_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/web"
)

// openPureFunctions loads the dashboard without an API behind it: the pure
// functions the page exports as window.Tally need none.
func openPureFunctions(t *testing.T) context.Context {
	t.Helper()
	ctx := newBrowser(t)
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`typeof window.Tally === 'object'`)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestPureFunctions checks the page's query building and chart series in a
// real browser, sharing one browser between the groups of cases.
func TestPureFunctions(t *testing.T) {
	ctx := openPureFunctions(t)
	t.Run("query building", func(t *testing.T) { testQueryBuilding(t, ctx) })
	t.Run("bucket keys", func(t *testing.T) { testBucketKeys(t, ctx) })
	t.Run("series", func(t *testing.T) { testBuildSeries(t, ctx) })
	t.Run("series of the top values, compared", func(t *testing.T) { testTopSeries(t, ctx) })
	t.Run("relative ranges", func(t *testing.T) { testResolveRange(t, ctx) })
	t.Run("chart of the top values", func(t *testing.T) { testTopChartQuery(t, ctx) })
	t.Run("partial buckets", func(t *testing.T) { testPartialBuckets(t, ctx) })
	t.Run("figures", func(t *testing.T) { testFigures(t, ctx) })
}

// testQueryBuilding checks the mapping page URL -> state -> /report queries,
// and that a state survives being written to the URL and read back.
func testQueryBuilding(t *testing.T, ctx context.Context) {
	const today = "2026-11-28"
	all := `{granularity: true, metricOrder: true, csv: true, periods: true}`
	none := `{granularity: false, metricOrder: false, csv: false, periods: false}`
	noPeriods := `{granularity: true, metricOrder: true, csv: true, periods: false}`
	type queries struct {
		Search, Table, Chart, CSV, Totals, Rank string
	}
	const (
		filled   = "&fill=zero&compare=previous_period"
		byDevice = "&group_by=date+device_type" + filled + "&order_by=date&offset=0&limit=10000"
	)
	tests := []struct {
		name, search, caps string
		want               queries
	}{{
		name: "defaults", search: "", caps: all,
		want: queries{
			Search: "",
			Table:  "date_range=30d&group_by=date&order_by=-date&fill=zero&offset=0&limit=25",
			Chart:  "date_range=30d" + byDevice,
			CSV:    "date_range=30d&group_by=date&order_by=-date&fill=zero&format=csv",
			Totals: "date_range=30d&group_by=valid&limit=2",
			Rank:   "date_range=30d&group_by=device_type&order_by=-count&limit=6",
		},
	}, {
		name:   "preset and every filter",
		search: "?range=7d&clients=3,4&client_groups=9&device_types=null+mobile&categories=none+5&valid=false&metric=mean&split=category",
		caps:   all,
		want: queries{
			Search: "?range=7d&split=category&metric=mean&clients=3+4&client_groups=9&device_types=mobile+null&categories=null+5&valid=false",
			Table: "date_range=7d&clients=3+4&client_groups=9&device_types=mobile+null&categories=null+5&valid=false" +
				"&group_by=date&order_by=-date&fill=zero&offset=0&limit=25",
			Chart: "date_range=7d&clients=3+4&client_groups=9&device_types=mobile+null&categories=null+5&valid=false" +
				"&group_by=date+category" + filled + "&order_by=date&offset=0&limit=10000",
			CSV: "date_range=7d&clients=3+4&client_groups=9&device_types=mobile+null&categories=null+5&valid=false" +
				"&group_by=date&order_by=-date&fill=zero&format=csv",
			Totals: "date_range=7d&clients=3+4&client_groups=9&device_types=mobile+null&categories=null+5&valid=false" +
				"&group_by=valid&limit=2",
			Rank: "date_range=7d&clients=3+4&client_groups=9&device_types=mobile+null&categories=null+5&valid=false" +
				"&group_by=category&order_by=-count&limit=6",
		},
	}, {
		name:   "bookmark from before date_range; a year back; sums; other shown",
		search: "?range=90&compare=previous_year&metric=sum&split=client&other=show",
		caps:   all,
		want: queries{
			Search: "?range=90d&split=client&metric=sum&compare=previous_year&other=show",
			Table:  "date_range=90d&group_by=date&order_by=-date&fill=zero&offset=0&limit=25",
			Chart:  "date_range=90d&group_by=date+client&fill=zero&compare=previous_year&order_by=date&offset=0&limit=10000",
			CSV:    "date_range=90d&group_by=date&order_by=-date&fill=zero&format=csv",
			Totals: "date_range=90d&group_by=valid&limit=2",
			Rank:   "date_range=90d&group_by=client&order_by=-sum&limit=6",
		},
	}, {
		name:   "relative range on a server without date_range: resolved here",
		search: "?range=last_month&compare=none",
		caps:   noPeriods,
		want: queries{
			Search: "?range=last_month&compare=none",
			Table:  "start_date=2026-10-01&end_date=2026-11-01&group_by=date&order_by=-date&offset=0&limit=25",
			Chart:  "start_date=2026-10-01&end_date=2026-11-01&group_by=date+device_type&order_by=date&offset=0&limit=10000",
			CSV:    "start_date=2026-10-01&end_date=2026-11-01&group_by=date&order_by=-date&format=csv",
			Totals: "start_date=2026-10-01&end_date=2026-11-01&group_by=valid&limit=2",
			Rank:   "start_date=2026-10-01&end_date=2026-11-01&group_by=device_type&order_by=-count&limit=6",
		},
	}, {
		name:   "custom range, zone, granularity, metric order, page",
		search: "?from=2026-01-01&to=2026-01-31&granularity=week&tz=Europe/Berlin&group_by=client+date&order_by=-count+client&offset=50&limit=25&split=",
		caps:   all,
		want: queries{
			Search: "?range=custom&from=2026-01-01&to=2026-01-31&group_by=client+date&order_by=-count+client&split=&granularity=week&tz=Europe%2FBerlin&offset=50",
			Table:  "start_date=2026-01-01&end_date=2026-02-01&tz=Europe%2FBerlin&group_by=client+date&order_by=-count+client&granularity=week&offset=50&limit=25",
			Chart:  "start_date=2026-01-01&end_date=2026-02-01&tz=Europe%2FBerlin&group_by=date&granularity=week" + filled + "&order_by=date&offset=0&limit=10000",
			CSV:    "start_date=2026-01-01&end_date=2026-02-01&tz=Europe%2FBerlin&group_by=client+date&order_by=-count+client&granularity=week&format=csv",
			Totals: "start_date=2026-01-01&end_date=2026-02-01&tz=Europe%2FBerlin&group_by=valid&limit=2",
		},
	}, {
		name:   "server without the report extensions",
		search: "?from=2026-01-01&to=2026-01-31&granularity=week&tz=Europe/Berlin&group_by=client+date&order_by=-count+client",
		caps:   none,
		want: queries{
			Search: "?range=custom&from=2026-01-01&to=2026-01-31&group_by=client+date&order_by=-count+client&granularity=week&tz=Europe%2FBerlin",
			Table:  "start_date=2026-01-01&end_date=2026-02-01&group_by=client+date&order_by=client&offset=0&limit=25",
			Chart:  "start_date=2026-01-01&end_date=2026-02-01&group_by=date+device_type&order_by=date&offset=0&limit=10000",
			CSV:    "start_date=2026-01-01&end_date=2026-02-01&group_by=client+date&order_by=client&format=csv",
			Totals: "start_date=2026-01-01&end_date=2026-02-01&group_by=valid&limit=2",
			Rank:   "start_date=2026-01-01&end_date=2026-02-01&group_by=device_type&limit=6",
		},
	}, {
		name:   "open-ended custom range: nothing to fill or compare",
		search: "?range=custom&from=2026-03-01",
		caps:   all,
		want: queries{
			Search: "?range=custom&from=2026-03-01",
			Table:  "start_date=2026-03-01&group_by=date&order_by=-date&offset=0&limit=25",
			Chart:  "start_date=2026-03-01&group_by=date+device_type&order_by=date&offset=0&limit=10000",
			CSV:    "start_date=2026-03-01&group_by=date&order_by=-date&format=csv",
			Totals: "start_date=2026-03-01&group_by=valid&limit=2",
			Rank:   "start_date=2026-03-01&group_by=device_type&order_by=-count&limit=6",
		},
	}, {
		name: "mangled bookmark falls back to defaults",
		search: "?range=12&group_by=bogus&metric=max&limit=7&offset=-3&clients=x+5&device_types=phone&split=day&granularity=year&tz=%3Cb%3E&valid=maybe" +
			"&compare=last_week&other=maybe",
		caps: all,
		want: queries{
			Search: "?clients=5",
			Table:  "date_range=30d&clients=5&group_by=date&order_by=-date&fill=zero&offset=0&limit=25",
			Chart:  "date_range=30d&clients=5" + byDevice,
			CSV:    "date_range=30d&clients=5&group_by=date&order_by=-date&fill=zero&format=csv",
			Totals: "date_range=30d&clients=5&group_by=valid&limit=2",
			Rank:   "date_range=30d&clients=5&group_by=device_type&order_by=-count&limit=6",
		},
	}, {
		name:   "order_by loses columns no longer grouped; offset snaps to a page",
		search: "?group_by=client&offset=30&limit=25&order_by=-date+mean+mean",
		caps:   all,
		want: queries{
			Search: "?group_by=client&order_by=mean&offset=25",
			Table:  "date_range=30d&group_by=client&order_by=mean&offset=25&limit=25",
			Chart:  "date_range=30d" + byDevice,
			CSV:    "date_range=30d&group_by=client&order_by=mean&format=csv",
			Totals: "date_range=30d&group_by=valid&limit=2",
			Rank:   "date_range=30d&group_by=device_type&order_by=-count&limit=6",
		},
	}, {
		name:   "no order at all stays unordered",
		search: "?group_by=client+valid&order_by=",
		caps:   all,
		want: queries{
			Search: "?group_by=client+valid&order_by=",
			Table:  "date_range=30d&group_by=client+valid&offset=0&limit=25",
			Chart:  "date_range=30d" + byDevice,
			CSV:    "date_range=30d&group_by=client+valid&format=csv",
			Totals: "date_range=30d&group_by=valid&limit=2",
			Rank:   "date_range=30d&group_by=device_type&order_by=-count&limit=6",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expr := `(() => {
				const s = Tally.parseState(` + jsString(tt.search) + `), caps = ` + tt.caps + `, today = ` + jsString(today) + `;
				return {
					Search: Tally.stateToSearch(s),
					Table: Tally.tableQuery(s, today, caps),
					Chart: Tally.chartQuery(s, today, caps, 0),
					CSV: Tally.csvQuery(s, today, caps),
					Totals: Tally.totalsQuery(s, today, caps),
					Rank: s.split ? Tally.rankQuery(s, today, caps) : '',
				};
			})()`
			got := evalJSON[queries](t, ctx, expr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("queries for %q (-want +got):\n%s", tt.search, diff)
			}
			// Writing the state to the URL and reading it back loses nothing.
			rt := evalJSON[[2]any](t, ctx, `(() => {
				const s = Tally.parseState(`+jsString(tt.search)+`);
				return [s, Tally.parseState(Tally.stateToSearch(s))];
			})()`)
			if diff := cmp.Diff(rt[0], rt[1]); diff != "" {
				t.Errorf("state changed on a round trip through the URL (-before +after):\n%s", diff)
			}
		})
	}
}

func testBucketKeys(t *testing.T, ctx context.Context) {
	tests := []struct {
		granularity, start, end string
		want                    []string // nil: the page takes the server's keys
	}{
		{"day", "2026-02-27", "2026-03-02", []string{"2026-02-27", "2026-02-28", "2026-03-01"}},
		{"day", "2024-02-28", "2024-03-01", []string{"2024-02-28", "2024-02-29"}},
		{"day", "2026-03-28", "2026-03-31", []string{"2026-03-28", "2026-03-29", "2026-03-30"}}, // DST change in Europe
		{"week", "2026-11-01", "2026-12-01", []string{"2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"}},
		{"week", "2026-11-02", "2026-11-09", []string{"2026-11-02"}},
		{"month", "2026-11-15", "2027-02-01", []string{"2026-11", "2026-12", "2027-01"}},
		{"month", "2026-11-15", "2027-02-02", []string{"2026-11", "2026-12", "2027-01", "2027-02"}},
		{"hour", "2026-11-01", "2026-11-02", nil},
		{"day", "", "2026-11-02", nil},
		{"day", "2026-11-02", "2026-11-02", nil},
		{"day", "2000-01-01", "2026-11-02", nil}, // too many to draw as points
	}
	for _, tt := range tests {
		t.Run(tt.granularity+" "+tt.start+" "+tt.end, func(t *testing.T) {
			got := evalJSON[[]string](t, ctx, `Tally.bucketKeys(`+jsString(tt.granularity)+`, `+jsString(tt.start)+`, `+jsString(tt.end)+`)`)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func testBuildSeries(t *testing.T, ctx context.Context) {
	type series struct {
		Label  string
		Values []*float64
		Total  *float64
	}
	type chart struct {
		Keys   []string
		Series []series
	}
	f := func(v float64) *float64 { return &v }
	// Eight clients over two days; client c has c+1 events on 11-01 worth c
	// each, and client 7 also one event on 11-02 worth 100.
	rows := `(() => {
		const rows = [];
		for (let c = 0; c < 8; c++) rows.push({day: '2026-11-01', client: c, count: c + 1, sum: c * (c + 1), mean: c});
		rows.push({day: '2026-11-02', client: 7, count: 1, sum: 100, mean: 100});
		return rows;
	})()`
	keys := `['2026-10-31', '2026-11-01', '2026-11-02']`
	tests := []struct {
		name, opts string
		want       chart
	}{{
		name: "count, top five and other",
		opts: `{granularity: 'day', split: 'client', metric: 'count', keys: ` + keys + `}`,
		want: chart{Keys: []string{"2026-10-31", "2026-11-01", "2026-11-02"}, Series: []series{
			{"client 3", []*float64{f(0), f(4), f(0)}, f(4)},
			{"client 4", []*float64{f(0), f(5), f(0)}, f(5)},
			{"client 5", []*float64{f(0), f(6), f(0)}, f(6)},
			{"client 6", []*float64{f(0), f(7), f(0)}, f(7)},
			{"client 7", []*float64{f(0), f(8), f(1)}, f(9)},
			{"other (3)", []*float64{f(0), f(6), f(0)}, f(6)},
		}},
	}, {
		name: "mean of other is its sum over its count; empty buckets have no mean",
		opts: `{granularity: 'day', split: 'client', metric: 'mean', keys: ` + keys + `, cap: 3}`,
		want: chart{Keys: []string{"2026-10-31", "2026-11-01", "2026-11-02"}, Series: []series{
			{"client 6", []*float64{nil, f(6), nil}, f(6)},
			{"client 7", []*float64{nil, f(7), f(100)}, f(156.0 / 9)},
			// clients 0-5: 21 events, sum 0+2+6+12+20+30 = 70
			{"other (6)", []*float64{nil, f(70.0 / 21), nil}, f(70.0 / 21)},
		}},
	}, {
		name: "no split, keys from the server when they are not listed",
		opts: `{granularity: 'hour', split: '', metric: 'sum', keys: null}`,
		want: chart{Keys: []string{"2026-11-01", "2026-11-02"}, Series: []series{
			{"all events", []*float64{f(140), f(100)}, f(240)},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rows
			if tt.name == "no split, keys from the server when they are not listed" {
				// As the server answers group_by=date&granularity=hour.
				r = `[{hour: '2026-11-01', count: 36, sum: 140, mean: 1}, {hour: '2026-11-02', count: 1, sum: 100, mean: 100}]`
			}
			got := evalJSON[chart](t, ctx, `(() => {
				const c = Tally.buildSeries(`+r+`, `+tt.opts+`);
				return {Keys: c.keys, Series: c.series.map(s => ({Label: s.label, Values: s.values, Total: s.total}))};
			})()`)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// testTopSeries checks the series built from the rows of the top values
// and the unsplit rows: "other" is the difference, bucket by bucket, for
// the range and for the earlier period; until cuts the buckets from a
// chart cut at the row limit.
func testTopSeries(t *testing.T, ctx context.Context) {
	type series struct {
		Label            string
		Values, Previous []*float64
		Total            *float64
	}
	f := func(v float64) *float64 { return &v }
	const (
		top = `[{day: '2026-11-01', client: 1, count: 2, sum: 4, mean: 2, previous: {count: 1, sum: 3, mean: 3}},
			{day: '2026-11-02', client: 1, count: 0, sum: 0, mean: null, previous: {count: 2, sum: 2, mean: 1}}]`
		all = `[{day: '2026-11-01', count: 5, sum: 10, mean: 2, previous: {count: 1, sum: 3, mean: 3}},
			{day: '2026-11-02', count: 1, sum: 7, mean: 7, previous: {count: 4, sum: 4, mean: 1}}]`
	)
	tests := []struct {
		name, opts string
		want       []series
	}{{
		name: "count",
		opts: `{granularity: 'day', split: 'client', metric: 'count', all: ` + all + `, otherCount: 3}`,
		want: []series{
			{"client 1", []*float64{f(2), f(0)}, []*float64{f(1), f(2)}, f(2)},
			{"other (3)", []*float64{f(3), f(1)}, []*float64{f(0), f(2)}, f(4)},
		},
	}, {
		name: "mean: none where a bucket has no events",
		opts: `{granularity: 'day', split: 'client', metric: 'mean', all: ` + all + `, otherCount: 3}`,
		want: []series{
			{"client 1", []*float64{f(2), nil}, []*float64{f(3), f(1)}, f(2)},
			{"other (3)", []*float64{f(2), f(7)}, []*float64{nil, f(1)}, f(13.0 / 4)},
		},
	}, {
		name: "until the second bucket",
		opts: `{granularity: 'day', split: 'client', metric: 'count', all: ` + all + `, otherCount: 3, until: '2026-11-02'}`,
		want: []series{
			{"client 1", []*float64{f(2)}, []*float64{f(1)}, f(2)},
			{"other (3)", []*float64{f(3)}, []*float64{f(0)}, f(3)},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evalJSON[[]series](t, ctx, `Tally.buildSeries(`+top+`, `+tt.opts+`).series.map(s => ({
				Label: s.label, Values: s.values, Previous: s.previous, Total: s.total}))`)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
