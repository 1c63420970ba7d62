package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// seedEvent is one event to create through POST /events; value is the
// JSON number as sent.
type seedEvent struct {
	day, device, value string
}

// seed creates events at noon UTC of their days, through the API.
func seed(t *testing.T, base string, events ...seedEvent) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i, e := range events {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"client":1,"client_group":1,"category":1,"valid":true,"device_type":"` + e.device +
			`","timestamp":"` + e.day + `T12:00:00Z","value":` + e.value + `}`)
	}
	b.WriteString("]")
	res, err := http.Post(base+"/events", "application/json", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Accepted int
		Rejected []any
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Accepted != len(events) {
		t.Fatalf("POST /events = %d, %+v, %v; want %d accepted", res.StatusCode, out, err, len(events))
	}
}

// headline is a headline tile as shown: the figure and its change.
type headline struct {
	Text, Value string
	Change      string // "" when hidden
	Dir         string // up, down, same or none
}

const readHeadlines = `Object.fromEntries(['count', 'sum', 'mean'].map(id => {
	const big = document.getElementById('total-' + id), ch = document.getElementById('change-' + id);
	return [id, {
		Text: big.textContent, Value: big.dataset.value,
		Change: ch.hidden ? '' : ch.textContent,
		Dir: ch.hidden ? '' : ['up', 'down', 'same', 'none'].find(c => ch.classList.contains(c)) || '',
	}];
}))`

// prevLine is a series' dashed line for the earlier period.
type prevLine struct {
	Label     string
	Values    []float64
	Dash      string // the computed stroke-dasharray
	SolidDash string // the current period's line's
}

const readPrevLines = `[...document.querySelectorAll('#chart g.series')].map(g => {
	const p = g.querySelector('path.prev'), c = g.querySelector('path.line:not(.prev)');
	return {
		Label: g.dataset.label,
		Values: p ? JSON.parse(p.dataset.values) : null,
		Dash: p ? getComputedStyle(p).strokeDasharray : '',
		SolidDash: getComputedStyle(c).strokeDasharray,
	};
})`

// testPeriods checks the comparison with an earlier period (dashed lines,
// headline changes) and the zero-filled buckets, on seeded days long before
// the generated data.
func testPeriods(t *testing.T, ctx context.Context, base string) {
	// 2001-03-04..06 against 2001-03-01..03; nothing on 2001-03-05, nor in 2000.
	seed(t, base,
		seedEvent{"2001-03-01", "desktop", "0.5"},
		seedEvent{"2001-03-02", "desktop", "0.7"},
		seedEvent{"2001-03-04", "desktop", "0.1"},
		seedEvent{"2001-03-04", "desktop", "0.2"},
		seedEvent{"2001-03-06", "mobile", "0.3"},
	)
	days := []string{"2001-03-04", "2001-03-05", "2001-03-06"}

	t.Run("zero-filled days and the previous period as dashed lines", func(t *testing.T) {
		v := act(t, ctx, "open three seeded days", chromedp.Navigate(base+"/?from=2001-03-04&to=2001-03-06"))
		const chart = "start_date=2001-03-04&end_date=2001-03-07&group_by=date+device_type&fill=zero&compare=previous_period&order_by=date&offset=0&limit=10000"
		if !slices.ContainsFunc(v.Requests, func(r string) bool { _, q, _ := strings.Cut(r, "?"); return sameQuery(q, chart) }) {
			t.Errorf("the page never asked /report?%s; it asked:\n%s", chart, strings.Join(v.Requests, "\n"))
		}
		// 2001-03-05 has no events: a point at 0 in every series, not a gap.
		want := []chartSeries{
			{Label: "desktop", Keys: days, Values: []float64{2, 0, 0}},
			{Label: "mobile", Keys: days, Values: []float64{0, 0, 1}},
		}
		if diff := cmp.Diff(want, v.Series); diff != "" {
			t.Errorf("series (-want +got):\n%s", diff)
		}
		got := evalJSON[[]prevLine](t, ctx, readPrevLines)
		wantPrev := []prevLine{
			{Label: "desktop", Values: []float64{1, 1, 0}, Dash: "5px, 4px", SolidDash: "none"},
			{Label: "mobile", Values: []float64{0, 0, 0}, Dash: "5px, 4px", SolidDash: "none"},
		}
		if diff := cmp.Diff(wantPrev, got); diff != "" {
			t.Errorf("earlier period's lines (-want +got):\n%s", diff)
		}
		// 3 events worth 0.6 against 2 worth 1.2: the sum is the server's
		// exact decimal, not 0.1+0.2+0.3 in floating point.
		wantHead := map[string]headline{
			"count": {"3", "3", "+50.0% vs 2 in the previous period", "up"},
			"sum":   {"0.60", "0.6", "\u221250.0% vs 1.20 in the previous period", "down"},
			"mean":  {"0.20", "0.2", "\u221266.7% vs 0.60 in the previous period", "down"},
		}
		if diff := cmp.Diff(wantHead, evalJSON[map[string]headline](t, ctx, readHeadlines)); diff != "" {
			t.Errorf("headline (-want +got):\n%s", diff)
		}
	})

	t.Run("another metric redraws the chart", func(t *testing.T) {
		v := act(t, ctx, "chart sums", choose("#metric", "sum"))
		want := []chartSeries{
			{Label: "desktop", Keys: days, Values: []float64{0.3, 0, 0}},
			{Label: "mobile", Keys: days, Values: []float64{0, 0, 0.3}},
		}
		if diff := cmp.Diff(want, v.Series); diff != "" {
			t.Errorf("series (-want +got):\n%s", diff)
		}
		act(t, ctx, "chart counts again", choose("#metric", "count"))
	})

	t.Run("the same dates a year earlier, which had no events", func(t *testing.T) {
		v := act(t, ctx, "compare with the year before", choose("#compare", "previous_year"))
		if !strings.Contains(v.Search, "compare=previous_year") {
			t.Errorf("URL query = %q, want compare=previous_year", v.Search)
		}
		wantHead := map[string]headline{
			"count": {"3", "3", "+3 vs 0 in the previous year", "up"},
			"sum":   {"0.60", "0.6", "+0.60 vs 0 in the previous year", "up"},
			"mean":  {"0.20", "0.2", "– no events in the previous year", "none"},
		}
		if diff := cmp.Diff(wantHead, evalJSON[map[string]headline](t, ctx, readHeadlines)); diff != "" {
			t.Errorf("headline (-want +got):\n%s", diff)
		}
		got := evalJSON[[]prevLine](t, ctx, readPrevLines)
		if len(got) != 2 || !cmp.Equal(got[0].Values, []float64{0, 0, 0}) || got[0].Dash != "5px, 4px" {
			t.Errorf("earlier period's lines = %+v, want dashed zeros", got)
		}
	})

	t.Run("no comparison", func(t *testing.T) {
		v := act(t, ctx, "compare with nothing", choose("#compare", "none"))
		for _, r := range v.Requests[len(v.Requests)-2:] {
			if strings.Contains(r, "compare=") {
				t.Errorf("asked %s with no comparison chosen", r)
			}
		}
		for _, l := range evalJSON[[]prevLine](t, ctx, readPrevLines) {
			if l.Values != nil {
				t.Errorf("series %s still has an earlier period's line", l.Label)
			}
		}
		for id, h := range evalJSON[map[string]headline](t, ctx, readHeadlines) {
			if h.Change != "" {
				t.Errorf("%s still shows a change: %q", id, h.Change)
			}
		}
	})
}

// testPartialBucket checks that the bucket still running is marked, so that
// it does not read as a drop: today, in this month by day.
func testPartialBucket(t *testing.T, ctx context.Context, base string) {
	v := act(t, ctx, "open this month", chromedp.Navigate(base+"/?range=month&split="))
	if v.Alert != "" {
		t.Fatalf("alert: %s", v.Alert)
	}
	today := evalJSON[string](t, ctx, `Tally.todayIn('UTC')`)
	type marks struct{ Bands, Points []string }
	got := evalJSON[marks](t, ctx, `({
		Bands: [...document.querySelectorAll('#chart rect.partial-band')].map(r => r.dataset.key),
		Points: [...document.querySelectorAll('#chart .pt[data-partial=true]')].map(p => p.dataset.key),
	})`)
	want := marks{Bands: []string{today}, Points: []string{today}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("partial buckets (-want +got):\n%s", diff)
	}
	if len(v.Series) != 1 || v.Series[0].Keys[len(v.Series[0].Keys)-1] != today {
		t.Errorf("series %+v, want one ending today", v.Series)
	}
}

// testHourAxis checks the time axis by hour, at desktop and phone widths:
// no two labels overlap, all are inside the chart, and the subtitle names
// the granularity.
func testHourAxis(t *testing.T, ctx context.Context, base string) {
	for _, width := range []int64{1366, 390} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 844)); err != nil {
			t.Fatal(err)
		}
		act(t, ctx, "open yesterday by hour", chromedp.Navigate(base+"/?range=7d&granularity=hour&split="))
		type box struct {
			Text        string
			Left, Right float64
		}
		type axis struct {
			Labels   []box
			Width    float64
			Subtitle string
		}
		a := evalJSON[axis](t, ctx, `(() => {
			const svg = document.getElementById('chart');
			return {
				Labels: [...svg.querySelectorAll('.xaxis text')].map(t => { const b = t.getBBox(); return {Text: t.textContent, Left: b.x, Right: b.x + b.width}; }),
				Width: svg.viewBox.baseVal.width,
				Subtitle: document.getElementById('subtitle').textContent,
			};
		})()`)
		if len(a.Labels) < 3 {
			t.Errorf("%d px: %d time labels, want several: %+v", width, len(a.Labels), a.Labels)
		}
		for i, l := range a.Labels {
			if l.Left < 0 || l.Right > a.Width {
				t.Errorf("%d px: label %q spans %.0f..%.0f, outside the chart's 0..%.0f", width, l.Text, l.Left, l.Right, a.Width)
			}
			if i > 0 && l.Left < a.Labels[i-1].Right {
				t.Errorf("%d px: label %q (%.0f..%.0f) overlaps %q (%.0f..%.0f)", width, l.Text, l.Left, l.Right,
					a.Labels[i-1].Text, a.Labels[i-1].Left, a.Labels[i-1].Right)
			}
		}
		if !strings.HasPrefix(a.Subtitle, "Events by hour, last 7 days (") {
			t.Errorf("subtitle = %q, want it to name the hour", a.Subtitle)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)); err != nil {
		t.Fatal(err)
	}
}

// testPhoneHeadline checks on a 390 px phone that every headline figure
// stays on one line and inside its tile, with the longest exact sum there
// is: 22 significant digits, shown in full.
func testPhoneHeadline(t *testing.T, ctx context.Context, base, artifacts string) {
	seed(t, base,
		seedEvent{"2001-02-01", "desktop", "999999999999999.999999"},
		seedEvent{"2001-02-01", "tablet", "999999999999999.999999"},
	)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)); err != nil {
			t.Fatal(err)
		}
	}()
	act(t, ctx, "open the seeded day on a phone", chromedp.Navigate(base+"/?from=2001-02-01&to=2001-02-01"))
	type tile struct {
		Text                      string
		Lines                     int
		ScrollWidth, ClientWidth  int
		Right, Viewport, FontSize float64
	}
	tiles := evalJSON[map[string]tile](t, ctx, `Object.fromEntries(['count', 'sum', 'mean'].map(id => {
		const e = document.getElementById('total-' + id), r = document.createRange();
		r.selectNodeContents(e);
		const tops = new Set([...r.getClientRects()].map(b => Math.round(b.top)));
		return [id, {
			Text: e.textContent, Lines: tops.size, ScrollWidth: e.scrollWidth, ClientWidth: e.clientWidth,
			Right: e.closest('.card').getBoundingClientRect().right, Viewport: document.documentElement.clientWidth,
			FontSize: parseFloat(getComputedStyle(e).fontSize),
		}];
	}))`)
	saveScreenshot(t, ctx, artifacts, "dashboard-phone-long-sum.png")
	if got := tiles["sum"].Text; got != "1,999,999,999,999,999.999998" {
		t.Errorf("sum = %q, want the exact 1,999,999,999,999,999.999998", got)
	}
	for id, tl := range tiles {
		if tl.Lines != 1 || tl.ScrollWidth > tl.ClientWidth || tl.Right > tl.Viewport {
			t.Errorf("%s tile %q: %d lines, %d px wide in %d px, tile ends at %.0f of %.0f px",
				id, tl.Text, tl.Lines, tl.ScrollWidth, tl.ClientWidth, tl.Right, tl.Viewport)
		}
		if tl.FontSize < 12 {
			t.Errorf("%s tile: font shrunk to %.1f px, too small to read", id, tl.FontSize)
		}
	}
}

// testRowLimit checks the chart of more rows than it loads (every hour of
// 800 days, per device type, zero-filled): a notice says so, and the lines
// stop at the last bucket loaded instead of falling to zero.
func testRowLimit(t *testing.T, ctx context.Context, base string) {
	today, err := time.Parse(time.DateOnly, evalJSON[string](t, ctx, `Tally.todayIn('UTC')`))
	if err != nil {
		t.Fatal(err)
	}
	from := today.AddDate(0, 0, -800).Format(time.DateOnly)
	v := act(t, ctx, "open 800 days by hour", chromedp.Navigate(base+"/?from="+from+"&to="+today.Format(time.DateOnly)+"&granularity=hour&compare=none"))
	if v.Alert != "" || v.Empty.Chart {
		t.Fatalf("alert %q, empty chart %v: the cut must not look like a failure", v.Alert, v.Empty.Chart)
	}
	type notice struct {
		Text  string
		Shown bool
		Role  string
		Paths int
	}
	n := evalJSON[notice](t, ctx, `(() => {
		const n = document.getElementById('chart-note');
		return {Text: n.textContent, Shown: !n.hidden && n.offsetHeight > 0, Role: n.getAttribute('role'),
			Paths: document.querySelectorAll('#chart g.series path.line').length};
	})()`)
	if !n.Shown || n.Role != "status" || !strings.HasPrefix(n.Text, "Showing the first 50,000 rows, up to ") ||
		!strings.Contains(n.Text, "narrow the filter") {
		t.Errorf("notice %+v, want a shown status saying the first 50,000 rows are charted", n)
	}
	if n.Paths == 0 {
		t.Error("no lines drawn")
	}
}

// testRangesAgree checks that the page resolves every relative range as
// the server does (the page shows its own until the server's answer).
func testRangesAgree(t *testing.T, ctx context.Context, base string) {
	presets := evalJSON[[]string](t, ctx, `[...document.querySelectorAll('button.preset')].map(b => b.dataset.range)`)
	if len(presets) != 8 {
		t.Fatalf("presets %v, want the API's 8 bounded ranges", presets)
	}
	for _, p := range presets {
		var echo struct {
			Query struct {
				StartDate string `json:"start_date"`
				EndDate   string `json:"end_date"`
			}
		}
		res, err := http.Get(base + "/report?group_by=valid&limit=1&date_range=" + p)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(res.Body).Decode(&echo)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := evalJSON[[2]string](t, ctx, `(() => {
			const r = Tally.resolveRange(Tally.parseState('?range=`+p+`'), Tally.todayIn('UTC'));
			return [r.start, r.end];
		})()`)
		if want := [2]string{echo.Query.StartDate, echo.Query.EndDate}; got != want {
			t.Errorf("%s: the page resolves %v, the server %v", p, got, want)
		}
	}
}
