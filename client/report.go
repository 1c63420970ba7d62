package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally"
)

// Query is a GET /report: every field is optional, and its zero value
// asks for the server's defaults (group by all six dimensions, first 100
// rows). The server checks the rules between fields (an order_by column
// must be grouped, fill needs date and a bounded range, …) and answers an
// *Error with status 400 that names the parameter.
type Query struct {
	GroupBy []tally.Column // dimensions; empty: all six
	OrderBy []tally.Order  // grouped dimensions or count, sum, mean

	Clients      []int32
	ClientGroups []int32
	DeviceTypes  []tally.DeviceType // tally.DeviceNone keeps the events without one
	Categories   []tally.Category   // tally.NoCategory keeps the events without one
	Valid        *bool

	// StartDate and EndDate bound the events to [StartDate, EndDate), at
	// local midnight in TZ; only their dates (t.Date()) count. Zero leaves
	// that side open.
	StartDate, EndDate time.Time
	// DateRange is a range relative to the day the server answers on,
	// instead of the dates.
	DateRange tally.DateRange

	Granularity tally.Granularity // of the date buckets; the zero value is day
	TZ          string            // an IANA zone; empty: UTC

	Compare tally.Comparison // adds each row's Previous and the Comparison
	Fill    bool             // fill=zero: every date bucket of the range

	Offset int
	Limit  int // 0: the server's default, 100 (every row for ReportCSV)
}

// Values returns q as GET /report's query parameters; lists are
// space-separated, as the contract writes them.
func (q *Query) Values() url.Values {
	v := url.Values{}
	list := func(name string, n int, item func(i int) string) {
		if n == 0 {
			return
		}
		s := make([]string, n)
		for i := range s {
			s[i] = item(i)
		}
		v.Set(name, strings.Join(s, " "))
	}
	list("group_by", len(q.GroupBy), func(i int) string { return q.GroupBy[i].String() })
	list("order_by", len(q.OrderBy), func(i int) string {
		if q.OrderBy[i].Desc {
			return "-" + q.OrderBy[i].Column.String()
		}
		return q.OrderBy[i].Column.String()
	})
	list("clients", len(q.Clients), func(i int) string { return strconv.FormatInt(int64(q.Clients[i]), 10) })
	list("client_groups", len(q.ClientGroups), func(i int) string { return strconv.FormatInt(int64(q.ClientGroups[i]), 10) })
	list("device_types", len(q.DeviceTypes), func(i int) string { return q.DeviceTypes[i].String() })
	list("categories", len(q.Categories), func(i int) string {
		if q.Categories[i] == tally.NoCategory {
			return "null"
		}
		return strconv.FormatInt(int64(q.Categories[i]), 10)
	})
	if q.Valid != nil {
		v.Set("valid", strconv.FormatBool(*q.Valid))
	}
	if !q.StartDate.IsZero() {
		v.Set("start_date", q.StartDate.Format(time.DateOnly))
	}
	if !q.EndDate.IsZero() {
		v.Set("end_date", q.EndDate.Format(time.DateOnly))
	}
	if q.DateRange.Kind != tally.NoDateRange {
		v.Set("date_range", q.DateRange.String())
	}
	if q.Granularity != tally.Day {
		v.Set("granularity", q.Granularity.String())
	}
	if q.TZ != "" {
		v.Set("tz", q.TZ)
	}
	if q.Compare != tally.NoComparison {
		v.Set("compare", q.Compare.String())
	}
	if q.Fill {
		v.Set("fill", "zero")
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Report is the answer of GET /report.
type Report struct {
	TotalCount int // rows of the whole result, all pages
	Offset     int
	PageSize   int
	Rows       []Row
	// Totals aggregates every matching event, all pages; nil only from a
	// server older than totals.
	Totals *tally.Totals
	// Comparison is the earlier range, with Query.Compare.
	Comparison *Comparison
	// StartDate and EndDate are the range the server answered, in the
	// query's zone (a DateRange resolved); empty for an open side.
	StartDate, EndDate string
}

// Row is one row of a report. Only the grouped dimensions are set; the
// others keep their zero values.
type Row struct {
	// Date is the date bucket as the server labels it: YYYY-MM-DD for day
	// and week (its Monday), YYYY-MM for month, RFC 3339 local time and
	// offset for hour.
	Date        string
	DeviceType  tally.DeviceType // tally.DeviceNone for null
	Category    tally.Category   // tally.NoCategory for null
	Client      int32
	ClientGroup int32
	Valid       bool
	tally.Totals
	// Previous is the matching row of the earlier range, with
	// Query.Compare.
	Previous *tally.Totals
}

// Value returns the row's value of dimension c as the API writes it, with
// null for a missing device type or category.
func (r *Row) Value(c tally.Column) string {
	switch c {
	case tally.ColDate:
		return r.Date
	case tally.ColDeviceType:
		return r.DeviceType.String()
	case tally.ColCategory:
		if r.Category == tally.NoCategory {
			return "null"
		}
		return strconv.FormatInt(int64(r.Category), 10)
	case tally.ColClient:
		return strconv.FormatInt(int64(r.Client), 10)
	case tally.ColClientGroup:
		return strconv.FormatInt(int64(r.ClientGroup), 10)
	case tally.ColValid:
		return strconv.FormatBool(r.Valid)
	}
	return ""
}

// Comparison is the earlier range a report was compared with.
type Comparison struct {
	StartDate, EndDate string // EndDate exclusive
	Totals             tally.Totals
}

// Report answers q with GET /report.
func (c *Client) Report(ctx context.Context, q *Query) (*Report, error) {
	var w wireReport
	if err := c.decode(ctx, request{method: http.MethodGet, path: "/report", query: q.Values()}, http.StatusOK, &w); err != nil {
		return nil, err
	}
	rep := &Report{
		TotalCount: w.Pagination.TotalCount,
		Offset:     w.Pagination.Offset,
		PageSize:   w.Pagination.PageSize,
		Rows:       make([]Row, len(w.Rows)),
	}
	var err error
	for i := range w.Rows {
		if rep.Rows[i], err = w.Rows[i].row(); err != nil {
			return nil, fmt.Errorf("tally: GET /report: row %d: %w", i, err)
		}
	}
	if w.Totals != nil {
		t, err := w.Totals.totals()
		if err != nil {
			return nil, fmt.Errorf("tally: GET /report: totals: %w", err)
		}
		rep.Totals = &t
	}
	if w.Comparison != nil {
		t, err := w.Comparison.Totals.totals()
		if err != nil {
			return nil, fmt.Errorf("tally: GET /report: comparison: %w", err)
		}
		rep.Comparison = &Comparison{StartDate: w.Comparison.StartDate, EndDate: w.Comparison.EndDate, Totals: t}
	}
	if w.Query != nil {
		rep.StartDate, rep.EndDate = w.Query.StartDate, w.Query.EndDate
	}
	return rep, nil
}

// ReportCSV answers q with GET /report as CSV, streamed: a header of the
// grouped columns then count, sum and mean, and one line a row. Without
// Offset and Limit it has every row, however many. The caller reads and
// closes it.
func (c *Client) ReportCSV(ctx context.Context, q *Query) (io.ReadCloser, error) {
	v := q.Values()
	v.Set("format", "csv")
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/report", query: v, accept: "text/csv"}, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		closeBody(resp)
		return nil, fmt.Errorf("tally: GET /report: the answer is %q, not CSV", ct)
	}
	return resp.Body, nil
}

// wireReport is the JSON of GET /report's 200.
type wireReport struct {
	Pagination struct {
		TotalCount int `json:"total_count"`
		Offset     int `json:"offset"`
		PageSize   int `json:"page_size"`
	} `json:"pagination"`
	Rows       []wireRow       `json:"rows"`
	Totals     *wireAggregates `json:"totals"`
	Comparison *struct {
		StartDate string         `json:"start_date"`
		EndDate   string         `json:"end_date"`
		Totals    wireAggregates `json:"totals"`
	} `json:"comparison"`
	Query *struct {
		StartDate string `json:"start_date"`
		EndDate   string `json:"end_date"`
	} `json:"query"`
}

type wireAggregates struct {
	Count int64       `json:"count"`
	Sum   json.Number `json:"sum"`
}

func (a *wireAggregates) totals() (tally.Totals, error) {
	sum, err := tally.ParseDecimal(string(a.Sum))
	if err != nil {
		return tally.Totals{}, fmt.Errorf("sum %q: %w", a.Sum, err)
	}
	return tally.Totals{Count: a.Count, Sum: sum}, nil
}

// wireRow is a report row: the date under its granularity's name, null
// for a missing device type or category.
type wireRow struct {
	Day         *string         `json:"day"`
	Hour        *string         `json:"hour"`
	Week        *string         `json:"week"`
	Month       *string         `json:"month"`
	DeviceType  *string         `json:"device_type"`
	Category    json.RawMessage `json:"category"` // absent (not grouped), null or an int32
	Client      int32           `json:"client"`
	ClientGroup int32           `json:"client_group"`
	Valid       bool            `json:"valid"`
	wireAggregates
	Previous *wireAggregates `json:"previous"`
}

func (w *wireRow) row() (Row, error) {
	r := Row{Client: w.Client, ClientGroup: w.ClientGroup, Valid: w.Valid}
	for _, d := range []*string{w.Day, w.Hour, w.Week, w.Month} {
		if d != nil {
			r.Date = *d
		}
	}
	if w.DeviceType != nil {
		d, ok := tally.ParseDeviceType(*w.DeviceType)
		if !ok || d == tally.DeviceNone {
			return Row{}, fmt.Errorf("device_type %q is unknown", *w.DeviceType)
		}
		r.DeviceType = d
	}
	switch s := string(w.Category); s {
	case "":
	case "null":
		r.Category = tally.NoCategory
	default:
		c, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return Row{}, fmt.Errorf("category %s is not an int32", s)
		}
		r.Category = tally.CategoryOf(int32(c))
	}
	var err error
	if r.Totals, err = w.totals(); err != nil {
		return Row{}, err
	}
	if w.Previous != nil {
		p, err := w.Previous.totals()
		if err != nil {
			return Row{}, fmt.Errorf("previous: %w", err)
		}
		r.Previous = &p
	}
	return r, nil
}
