package web_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testResolveRange checks the relative ranges as the page resolves them
// before the server answers (and for a server without date_range): the
// API's rules, end exclusive.
func testResolveRange(t *testing.T, ctx context.Context) {
	tests := []struct {
		today, rng string
		want       [2]string
	}{
		{"2026-11-28", "today", [2]string{"2026-11-28", "2026-11-29"}},
		{"2026-11-28", "yesterday", [2]string{"2026-11-27", "2026-11-28"}},
		{"2026-11-28", "7d", [2]string{"2026-11-21", "2026-11-28"}},
		{"2026-11-28", "30d", [2]string{"2026-10-29", "2026-11-28"}},
		{"2026-03-01", "90d", [2]string{"2025-12-01", "2026-03-01"}},
		{"2024-03-01", "7d", [2]string{"2024-02-23", "2024-03-01"}},
		{"2024-03-01", "month", [2]string{"2024-03-01", "2024-03-02"}},
		{"2024-03-01", "last_month", [2]string{"2024-02-01", "2024-03-01"}},
		{"2026-01-15", "last_month", [2]string{"2025-12-01", "2026-01-01"}},
		{"2026-12-31", "year", [2]string{"2026-01-01", "2027-01-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.rng+" on "+tt.today, func(t *testing.T) {
			got := evalJSON[[2]string](t, ctx, `(() => {
				const r = Tally.resolveRange(Tally.parseState('?range=`+tt.rng+`'), `+jsString(tt.today)+`);
				return [r.start, r.end];
			})()`)
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// testTopChartQuery checks the chart's query for the top values of a split
// with many values: the values replace the person's own filter on that
// dimension (they are among its values), "none" included.
func testTopChartQuery(t *testing.T, ctx context.Context) {
	got := evalJSON[[]string](t, ctx, `(() => {
		const caps = {granularity: true, metricOrder: true, csv: true, periods: true};
		return [
			Tally.chartQuery(Tally.parseState('?split=category&categories=4+null+7+1+2+3'), '2026-11-28', caps, 10000, 'category', [null, 4, 7, 1, 2]),
			Tally.chartQuery(Tally.parseState('?split=client&compare=none'), '2026-11-28', caps, 0, ''),
		];
	})()`)
	want := []string{
		"date_range=30d&categories=null+4+7+1+2&group_by=date+category&fill=zero&compare=previous_period&order_by=date&offset=10000&limit=10000",
		"date_range=30d&group_by=date&fill=zero&order_by=date&offset=0&limit=10000",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func testPartialBuckets(t *testing.T, ctx context.Context) {
	weeks := `['2026-10-26', '2026-11-02', '2026-11-09', '2026-11-16', '2026-11-23']`
	tests := []struct {
		name, keys, granularity, start, end, today, now string
		want                                            []bool
	}{
		{"today's day is running", `['2026-11-26', '2026-11-27', '2026-11-28']`, "day", "2026-11-26", "2026-11-29", "2026-11-28", "2026-11-28T15:00:00Z",
			[]bool{false, false, true}},
		{"days that are over", `['2026-11-26', '2026-11-27']`, "day", "2026-11-26", "2026-11-28", "2026-11-28", "2026-11-28T15:00:00Z",
			[]bool{false, false}},
		{"weeks the range cuts at both ends", weeks, "week", "2026-10-29", "2026-11-28", "2026-11-28", "2026-11-28T15:00:00Z",
			[]bool{true, false, false, false, true}},
		{"months: this one running and cut", `['2026-10', '2026-11']`, "month", "2026-10-01", "2026-11-29", "2026-11-28", "2026-11-28T15:00:00Z",
			[]bool{false, true}},
		{"a whole month in the past", `['2026-02']`, "month", "2026-02-01", "2026-03-01", "2026-11-28", "2026-11-28T15:00:00Z",
			[]bool{false}},
		{"the current hour, whatever the offset", `['2026-11-28T09:00:00+01:00', '2026-11-28T10:00:00+01:00', '2026-11-28T11:00:00+01:00']`,
			"hour", "2026-11-28", "2026-11-29", "2026-11-28", "2026-11-28T09:30:00Z", []bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evalJSON[[]bool](t, ctx, `Tally.partialBuckets(`+tt.keys+`, `+jsString(tt.granularity)+`, {start: `+
				jsString(tt.start)+`, end: `+jsString(tt.end)+`}, `+jsString(tt.today)+`, Date.parse(`+jsString(tt.now)+`))`)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// testFigures checks how sums and changes are written: sums digit for digit
// from their JSON text, changes with their sign, and no percentage of 0.
func testFigures(t *testing.T, ctx context.Context) {
	t.Run("exact sums", func(t *testing.T) {
		tests := []struct{ in, locale, want string }{
			{`"1999999999999999.999998"`, "en-US", "1,999,999,999,999,999.999998"},
			{`"0.3"`, "en-US", "0.30"},
			{`"-1234.5"`, "en-US", "-1,234.50"},
			{`"5"`, "en-US", "5.00"},
			{`"0.000001"`, "en-US", "0.000001"},
			{`"-0.000000"`, "en-US", "0.00"},
			{`"1234.5"`, "de-DE", "1.234,50"},
			{`0.1 + 0.2`, "en-US", "0.30"}, // a double, when the text is not at hand
		}
		for _, tt := range tests {
			if got := evalJSON[string](t, ctx, `Tally.formatDecimal(`+tt.in+`, `+jsString(tt.locale)+`)`); got != tt.want {
				t.Errorf("formatDecimal(%s, %s) = %q, want %q", tt.in, tt.locale, got, tt.want)
			}
		}
	})
	t.Run("the JSON text of sums", func(t *testing.T) {
		type row struct {
			Sum     float64
			SumText string
		}
		got := evalJSON[[]row](t, ctx, `(() => {
			const b = Tally.parseReport('{"rows":[{"day":"2026-11-01","count":2,"sum":1999999999999999.999998,"mean":1}],'+
				'"totals":{"count":2,"sum":0.3,"mean":0.15},"comparison":{"totals":{"count":0,"sum":0,"mean":null}}}');
			return [b.rows[0], b.totals, b.comparison.totals].map(r => ({Sum: r.sum, SumText: r.sumText}));
		})()`)
		want := []row{{2e15, "1999999999999999.999998"}, {0.3, "0.3"}, {0, "0"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("changes", func(t *testing.T) {
		type chg struct{ Dir, Delta, Vs string }
		tests := []struct {
			cur, prev string
			want      chg
		}{
			{"3", "2", chg{"up", "+50.0%", "vs P in the previous period"}},
			{"0.6", "1.2", chg{"down", "\u221250.0%", "vs P in the previous period"}},
			{"-1", "-2", chg{"up", "+50.0%", "vs P in the previous period"}},
			{"5", "5", chg{"same", "\u00b10.0%", "vs P in the previous period"}},
			{"3", "0", chg{"up", "+A", "vs 0 in the previous period"}},
			{"0", "0", chg{"same", "\u00b1A", "vs 0 in the previous period"}},
			{"2", "null", chg{"none", "–", "no events in the previous period"}},
			{"null", "2", chg{"none", "–", "no events in this period (P in the previous period)"}},
		}
		for _, tt := range tests {
			got := evalJSON[chg](t, ctx, `(() => {
				const c = Tally.change(`+tt.cur+`, `+tt.prev+`, {abs: 'A', prev: 'P'}, 'previous period', 'en-US');
				return {Dir: c.dir, Delta: c.delta, Vs: c.vs};
			})()`)
			if got != tt.want {
				t.Errorf("change(%s, %s) = %+v, want %+v", tt.cur, tt.prev, got, tt.want)
			}
		}
	})
}
