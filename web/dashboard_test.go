package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// reportBody is /report's JSON answer.
type reportBody struct {
	Pagination struct {
		TotalCount int `json:"total_count"`
	} `json:"pagination"`
	Rows    []map[string]any `json:"rows"`
	Totals  *struct{ Count float64 }
	Message string `json:"message"`
}

func getReport(t *testing.T, base, query string) (int, reportBody) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/report?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b reportBody
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
		t.Fatalf("/report?%s: %v", query, err)
	}
	return res.StatusCode, b
}

func mustReport(t *testing.T, base, query string) reportBody {
	t.Helper()
	status, b := getReport(t, base, query)
	if status != http.StatusOK {
		t.Fatalf("/report?%s = %d %s", query, status, b.Message)
	}
	return b
}

// tableRows is what the table must show for a report: per row, the grouped
// columns in group_by order, then count, sum and mean.
func tableRows(b reportBody, groupBy []string) [][]any {
	rows := [][]any{}
	for _, r := range b.Rows {
		var row []any
		for _, c := range groupBy {
			if c == "date" {
				c = "day"
			}
			row = append(row, r[c])
		}
		rows = append(rows, append(row, r["count"], r["sum"], r["mean"]))
	}
	return rows
}

// view is what the page shows, read from the DOM.
type view struct {
	Search   string
	Columns  []string
	Rows     [][]any
	Total    int
	Series   []chartSeries
	Alert    string
	Headline string
	Empty    struct{ Table, Chart bool }
	Requests []string
}

type chartSeries struct {
	Label  string
	Keys   []string
	Values []float64
}

const readView = `(() => {
	const $ = id => document.getElementById(id);
	return {
		Search: location.search,
		Columns: [...document.querySelectorAll('#table thead th')].map(th => th.querySelector('button') ? th.querySelector('button').dataset.col : th.textContent),
		Rows: [...document.querySelectorAll('#table tbody tr')].map(tr => [...tr.cells].map(td => JSON.parse(td.dataset.value))),
		Total: Number($('page-info').dataset.total),
		Series: [...document.querySelectorAll('#chart g.series')].map(g => ({
			Label: g.dataset.label,
			Keys: [...g.querySelectorAll('.pt')].map(c => c.dataset.key),
			Values: [...g.querySelectorAll('.pt')].map(c => Number(c.dataset.v)),
		})),
		Alert: $('alert').hidden ? '' : $('alert').textContent,
		Headline: $('total-count').dataset.value,
		Empty: {Table: !$('table-empty').hidden, Chart: !$('chart-empty').hidden},
		Requests: performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/report?')),
	};
})()`

// choose picks a value in a <select> as a person would, firing "change".
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => {
			const s = document.querySelector(`+jsString(sel)+`);
			s.value = `+jsString(value)+`;
			return s.dispatchEvent(new Event('change', {bubbles: true}));
		})()`)(ctx, tg)
		return err
	})
}

// act runs an action that makes the page load a report, and waits until
// that load has finished.
func act(t *testing.T, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) view {
	t.Helper()
	// Mark the shown load as seen; the page numbers each load it finishes,
	// and a new document starts unnumbered.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.body && (document.body.dataset.loaded = 'seen') === 'seen'`)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := chromedp.Do(ctx, a); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.body && document.body.dataset.loaded !== undefined &&
		document.body.dataset.loaded !== 'seen' && !document.querySelector('[aria-busy=true]')`))
	if err != nil {
		t.Fatalf("%s: waiting for the report to load: %v", what, err)
	}
	return evalJSON[view](t, ctx, readView)
}

// sameQuery reports whether two query strings hold the same parameters.
func sameQuery(a, b string) bool {
	pa, err1 := url.ParseQuery(a)
	pb, err2 := url.ParseQuery(b)
	return err1 == nil && err2 == nil && cmp.Equal(pa, pb)
}

// checkTable compares the page's table with /report's answer to the query
// the page should have asked, and checks that the page asked exactly it.
func checkTable(t *testing.T, base string, v view, query string, groupBy []string) reportBody {
	t.Helper()
	b := mustReport(t, base, query)
	if !slices.ContainsFunc(v.Requests, func(r string) bool {
		_, q, _ := strings.Cut(r, "?")
		return sameQuery(q, query)
	}) {
		t.Errorf("the page never asked /report?%s; it asked:\n%s", query, strings.Join(v.Requests, "\n"))
	}
	if diff := cmp.Diff(append(slices.Clone(groupBy), "count", "sum", "mean"), v.Columns); diff != "" {
		t.Errorf("table columns (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tableRows(b, groupBy), v.Rows); diff != "" {
		t.Errorf("table rows differ from /report?%s (-want +got):\n%s", query, diff)
	}
	if v.Total != b.Pagination.TotalCount {
		t.Errorf("table says %d rows in all, /report says %d", v.Total, b.Pagination.TotalCount)
	}
	return b
}

// checkChart compares the chart with /report's rows grouped by date and
// device type: one series per device type, a point per day of the range.
func checkChart(t *testing.T, base string, v view, filter string, days []string) {
	t.Helper()
	b := mustReport(t, base, filter+"&group_by=date+device_type&order_by=date&limit=10000")
	want := map[string][]float64{}
	for _, r := range b.Rows {
		label := "none"
		if d, ok := r["device_type"].(string); ok {
			label = d
		}
		if want[label] == nil {
			want[label] = make([]float64, len(days))
		}
		want[label][slices.Index(days, r["day"].(string))] += r["count"].(float64)
	}
	got := map[string][]float64{}
	for _, s := range v.Series {
		if diff := cmp.Diff(days, s.Keys); diff != "" {
			t.Errorf("series %q: points (-want +got):\n%s", s.Label, diff)
		}
		got[s.Label] = s.Values
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chart differs from /report?%s (-want +got):\n%s", filter, diff)
	}
}

// TestDashboard drives the dashboard in a real browser against a real API
// on a temporary store and checks what it shows against /report.
func TestDashboard(t *testing.T) {
	ctx := newBrowser(t)
	base := startTally(t)
	artifacts := artifactsDir(t)

	v := act(t, ctx, "open the dashboard", chromedp.Navigate(base+"/"))
	if v.Alert != "" {
		t.Fatalf("the dashboard shows an error: %s", v.Alert)
	}
	// The page's own today, so that the test agrees with it even across
	// midnight.
	today, err := time.Parse(time.DateOnly, evalJSON[string](t, ctx, `Tally.todayIn('UTC')`))
	if err != nil {
		t.Fatal(err)
	}
	// The relative ranges are the API's: n whole days ending yesterday.
	days := func(n int) ([]string, string) {
		var ds []string
		for i := -n; i < 0; i++ {
			ds = append(ds, today.AddDate(0, 0, i).Format(time.DateOnly))
		}
		return ds, "date_range=" + strconv.Itoa(n) + "d"
	}

	t.Run("defaults: last 30 days by date", func(t *testing.T) {
		ds, filter := days(30)
		b := checkTable(t, base, v, filter+"&group_by=date&order_by=-date&fill=zero&offset=0&limit=25", []string{"date"})
		checkChart(t, base, v, filter, ds)
		if b.Totals == nil {
			t.Fatal("/report has no totals")
		}
		if v.Headline != strconv.FormatFloat(b.Totals.Count, 'f', -1, 64) {
			t.Errorf("headline events = %q, want %v", v.Headline, b.Totals.Count)
		}
	})

	ds7, filter7 := days(7)
	t.Run("preset: last 7 days", func(t *testing.T) {
		v = act(t, ctx, "click the 7-day preset", chromedp.Click(chromedp.CSS(`button.preset[data-range="7d"]`)))
		if v.Search != "?range=7d" {
			t.Errorf("URL query = %q, want ?range=7d", v.Search)
		}
		checkTable(t, base, v, filter7+"&group_by=date&order_by=-date&fill=zero&offset=0&limit=25", []string{"date"})
		checkChart(t, base, v, filter7, ds7)
	})

	t.Run("group by device type instead of date", func(t *testing.T) {
		act(t, ctx, "tick device type", chromedp.Click(chromedp.CSS(`#group-by input[value=device_type]`)))
		v = act(t, ctx, "untick date", chromedp.Click(chromedp.CSS(`#group-by input[value=date]`)))
		if v.Search != "?range=7d&group_by=device_type&order_by=" {
			t.Errorf("URL query = %q", v.Search)
		}
		checkTable(t, base, v, filter7+"&group_by=device_type&offset=0&limit=25", []string{"device_type"})
		checkChart(t, base, v, filter7, ds7) // the chart does not depend on the table's grouping
	})

	t.Run("sort by count", func(t *testing.T) {
		v = act(t, ctx, "click the count header", chromedp.Click(chromedp.CSS(`#table th button[data-col=count]`)))
		checkTable(t, base, v, filter7+"&group_by=device_type&order_by=-count&offset=0&limit=25", []string{"device_type"})
		v = act(t, ctx, "click it again", chromedp.Click(chromedp.CSS(`#table th button[data-col=count]`)))
		checkTable(t, base, v, filter7+"&group_by=device_type&order_by=count&offset=0&limit=25", []string{"device_type"})
	})

	t.Run("back restores the previous view", func(t *testing.T) {
		v = act(t, ctx, "go back", chromedp.NavigateBack())
		if v.Search != "?range=7d&group_by=device_type&order_by=-count" {
			t.Errorf("URL query after back = %q", v.Search)
		}
		checkTable(t, base, v, filter7+"&group_by=device_type&order_by=-count&offset=0&limit=25", []string{"device_type"})
	})

	t.Run("pages", func(t *testing.T) {
		act(t, ctx, "open a view by client", chromedp.Navigate(base+"/?range=7d&group_by=client&order_by=-sum&limit=10"))
		v = act(t, ctx, "next page", chromedp.Click(chromedp.CSS(`#next`)))
		checkTable(t, base, v, filter7+"&group_by=client&order_by=-sum&offset=10&limit=10", []string{"client"})
	})

	t.Run("split by client: five series and other", func(t *testing.T) {
		v = act(t, ctx, "split by client", choose("#split", "client"))
		// "other" adds up over a hundred clients: drawn, it would flatten
		// the top five, so it waits for the reader to ask for it.
		if len(v.Series) != 5 || slices.ContainsFunc(v.Series, func(s chartSeries) bool { return strings.HasPrefix(s.Label, "other") }) {
			t.Fatalf("series %v, want the top 5 clients alone", v.Series)
		}
		top := mustReport(t, base, filter7+"&group_by=client&order_by=-count&limit=5")
		for i, r := range top.Rows {
			want := "client " + strconv.FormatFloat(r["client"].(float64), 'f', -1, 64)
			if !slices.ContainsFunc(v.Series, func(s chartSeries) bool { return s.Label == want }) {
				t.Errorf("top client %d (%s) is not charted: %v", i+1, want, v.Series)
			}
		}
		if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`#toggle-other`))); err != nil {
			t.Fatal(err)
		}
		v = evalJSON[view](t, ctx, readView)
		if len(v.Series) != 6 || !strings.HasPrefix(v.Series[5].Label, "other (") {
			t.Fatalf("series %v after showing other, want 5 clients and other", v.Series)
		}
		if !strings.HasSuffix(v.Search, "&other=show") {
			t.Errorf("URL query = %q, want it to keep other=show", v.Search)
		}
		// The series add up to the events per day.
		b := mustReport(t, base, filter7+"&group_by=date&order_by=date")
		want := make([]float64, len(ds7))
		for _, r := range b.Rows {
			want[slices.Index(ds7, r["day"].(string))] = r["count"].(float64)
		}
		got := make([]float64, len(ds7))
		for _, s := range v.Series {
			if len(s.Values) != len(ds7) {
				t.Fatalf("series %q has %d points, want %d", s.Label, len(s.Values), len(ds7))
			}
			for i, x := range s.Values {
				got[i] += x
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("series summed per day (-want +got):\n%s", diff)
		}
	})

	t.Run("API error shows the API's message", func(t *testing.T) {
		v = act(t, ctx, "open a view with an unknown zone", chromedp.Navigate(base+"/?tz=Mars/Olympus_Mons"))
		_, b := getReport(t, base, "group_by=date&tz=Mars/Olympus_Mons")
		if b.Message == "" || !strings.Contains(v.Alert, b.Message) {
			t.Errorf("alert = %q, want it to show %q", v.Alert, b.Message)
		}
	})

	t.Run("empty range", func(t *testing.T) {
		v = act(t, ctx, "open an empty range", chromedp.Navigate(base+"/?from=2001-01-01&to=2001-01-07"))
		if !v.Empty.Table || !v.Empty.Chart || v.Headline != "0" || len(v.Rows) != 0 || v.Alert != "" {
			t.Errorf("empty state not shown: %+v", v)
		}
	})

	t.Run("relative ranges agree with the server", func(t *testing.T) { testRangesAgree(t, ctx, base) })
	t.Run("periods", func(t *testing.T) { testPeriods(t, ctx, base) })
	t.Run("partial bucket", func(t *testing.T) { testPartialBucket(t, ctx, base) })
	t.Run("hour axis", func(t *testing.T) { testHourAxis(t, ctx, base) })
	t.Run("phone headline", func(t *testing.T) { testPhoneHeadline(t, ctx, base, artifacts) })
	t.Run("row limit", func(t *testing.T) { testRowLimit(t, ctx, base) })

	t.Run("screenshots", func(t *testing.T) {
		const typical = "/?group_by=date+device_type&limit=10"
		for _, s := range []struct {
			name          string
			width, height int64
		}{{"desktop", 1366, 900}, {"phone", 390, 844}} {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(s.width, s.height)); err != nil {
				t.Fatal(err)
			}
			// Loaded at this width, so the page lays itself out for it (the
			// controls start folded on a phone).
			act(t, ctx, "open a typical view", chromedp.Navigate(base+typical))
			saveScreenshot(t, ctx, artifacts, "dashboard-"+s.name+".png")
		}
	})
}
