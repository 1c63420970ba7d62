package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
)

// reportFlags are report's flags that fill in the query, each with its
// parser; the server checks the rules between them.
var reportFlags = []struct {
	name, usage string
	set         func(q *client.Query, s string) error
}{
	{"group-by", "`columns` to group by, comma or space separated (default all six)", func(q *client.Query, s string) (err error) {
		q.GroupBy, err = parseList(s, func(s string) (tally.Column, error) {
			c, ok := tally.ParseColumn(s)
			if !ok || !c.IsDimension() {
				return 0, fmt.Errorf("%q is not one of date, device_type, category, client, client_group, valid", s)
			}
			return c, nil
		})
		return err
	}},
	{"order-by", "`columns` to order by, each optionally prefixed with - for descending", func(q *client.Query, s string) (err error) {
		q.OrderBy, err = parseList(s, func(s string) (tally.Order, error) {
			c, ok := tally.ParseColumn(strings.TrimPrefix(s, "-"))
			if !ok {
				return tally.Order{}, fmt.Errorf("%q is not a dimension or count, sum, mean", s)
			}
			return tally.Order{Column: c, Desc: strings.HasPrefix(s, "-")}, nil
		})
		return err
	}},
	{"clients", "keep only these clients (a `list`)", func(q *client.Query, s string) (err error) {
		q.Clients, err = parseList(s, parseInt32)
		return err
	}},
	{"client-groups", "keep only these client groups (a `list`)", func(q *client.Query, s string) (err error) {
		q.ClientGroups, err = parseList(s, parseInt32)
		return err
	}},
	{"device-types", "keep only these device types (a `list` of desktop, mobile, tablet, null)", func(q *client.Query, s string) (err error) {
		q.DeviceTypes, err = parseList(s, func(s string) (tally.DeviceType, error) {
			d, ok := tally.ParseDeviceType(s)
			if !ok {
				return 0, fmt.Errorf("%q is not one of desktop, mobile, tablet, null", s)
			}
			return d, nil
		})
		return err
	}},
	{"categories", "keep only these categories (a `list` of integers or null)", func(q *client.Query, s string) (err error) {
		q.Categories, err = parseList(s, func(s string) (tally.Category, error) {
			if s == "null" {
				return tally.NoCategory, nil
			}
			c, err := parseInt32(s)
			return tally.CategoryOf(c), err
		})
		return err
	}},
	{"valid", "keep only valid (true) or invalid (false) events (a `bool`)", func(q *client.Query, s string) error {
		if s != "true" && s != "false" {
			return fmt.Errorf("%q is not true or false", s)
		}
		v := s == "true"
		q.Valid = &v
		return nil
	}},
	{"start-date", "keep events on or after this `date` (YYYY-MM-DD)", func(q *client.Query, s string) (err error) {
		q.StartDate, err = parseDate(s)
		return err
	}},
	{"end-date", "keep events before this `date` (YYYY-MM-DD, exclusive)", func(q *client.Query, s string) (err error) {
		q.EndDate, err = parseDate(s)
		return err
	}},
	{"granularity", "`width` of the date buckets: hour, day, week or month", func(q *client.Query, s string) error {
		g, ok := tally.ParseGranularity(s)
		if !ok {
			return fmt.Errorf("%q is not one of hour, day, week, month", s)
		}
		q.Granularity = g
		return nil
	}},
	{"tz", "IANA time `zone` of the date buckets and bounds", func(q *client.Query, s string) error {
		q.TZ = s
		return nil
	}},
	{"date-range", "a `range` relative to today, instead of the dates: " + strings.Join(tally.DateRangeNames, ", "), func(q *client.Query, s string) error {
		r, ok := tally.ParseDateRange(s)
		if !ok {
			return fmt.Errorf("%q is not one of %s", s, strings.Join(tally.DateRangeNames, ", "))
		}
		q.DateRange = r
		return nil
	}},
	{"compare", "also show the earlier `period`: previous_period or previous_year (needs a bounded range)", func(q *client.Query, s string) error {
		c, ok := tally.ParseComparison(s)
		if !ok {
			return fmt.Errorf("%q is not previous_period or previous_year", s)
		}
		q.Compare = c
		return nil
	}},
	{"fill", "`zero` lists the empty date buckets too (needs date in --group-by and a bounded range)", func(q *client.Query, s string) error {
		if s != "zero" {
			return fmt.Errorf("%q is not zero", s)
		}
		q.Fill = true
		return nil
	}},
	{"offset", "`rows` to skip", func(q *client.Query, s string) (err error) {
		q.Offset, err = strconv.Atoi(s)
		return err
	}},
	{"limit", "`rows` to return", func(q *client.Query, s string) (err error) {
		q.Limit, err = strconv.Atoi(s)
		return err
	}},
}

// parseList parses a comma- or space-separated list, as the server reads
// one.
func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func parseInt32(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a 32-bit integer", s)
	}
	return int32(n), nil
}

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a YYYY-MM-DD date", s)
	}
	return t, nil
}

type reportConfig struct {
	URL    string
	APIKey string
	Query  client.Query
	CSV    bool
}

func parseReportConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (reportConfig, error) {
	var cfg reportConfig
	values := make([]string, len(reportFlags))
	fs.StringVar(&cfg.URL, "url", "", "base `URL` of the server (default: http://127.0.0.1 on the port of TALLY_ADDR, or its host when it names one; else http://127.0.0.1:8080)")
	apiKey := apiKeyFlag(fs, getenv)
	fs.BoolVar(&cfg.CSV, "csv", false, "print the report as CSV, every row unless --offset or --limit is given")
	for i, f := range reportFlags {
		fs.StringVar(&values[i], f.name, "", f.usage)
	}
	if err := parseFlags(fs, args); err != nil {
		return reportConfig{}, err
	}
	if cfg.URL == "" {
		addr := getenv("TALLY_ADDR")
		if addr == "" {
			addr = defaultAddr
		}
		u, err := baseURLOf(addr)
		if err != nil {
			return reportConfig{}, usageError{fmt.Errorf("TALLY_ADDR (without --url): %w", err)}
		}
		cfg.URL = u
	}
	cfg.APIKey = apiKey()
	var errs []error
	for i, f := range reportFlags {
		if values[i] == "" {
			continue
		}
		if err := f.set(&cfg.Query, values[i]); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.name, err))
		}
	}
	if len(errs) > 0 {
		return reportConfig{}, usageError{errors.Join(errs...)}
	}
	return cfg, nil
}

func (c *cli) report(ctx context.Context, args []string) error {
	fs := c.newFlagSet("report", "Print a running server's aggregated report as a table (or CSV).")
	cfg, err := parseReportConfig(fs, args, c.getenv)
	if err != nil {
		return helpOK(err)
	}
	tc, err := newClient(cfg.URL, cfg.APIKey, &http.Client{Timeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	if cfg.CSV {
		body, err := tc.ReportCSV(ctx, &cfg.Query)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		defer body.Close()
		if _, err := io.Copy(c.stdout, body); err != nil {
			return fmt.Errorf("report: reading the CSV: %w", err)
		}
		return nil
	}
	rep, err := tc.Report(ctx, &cfg.Query)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return writeReportTable(c.stdout, &cfg.Query, rep)
}

// newClient is the client of --url and --api-key; a URL it refuses is a
// usage error.
func newClient(base, apiKey string, hc *http.Client) (*client.Client, error) {
	tc, err := client.New(base, client.WithAPIKey(apiKey), client.WithHTTPClient(hc))
	if err != nil {
		return nil, usageError{fmt.Errorf("--url: %w", err)}
	}
	return tc, nil
}

// writeReportTable writes the rows as an aligned table, the grouped
// columns in group_by order then the aggregates, and one line with the
// page and the totals.
func writeReportTable(w io.Writer, q *client.Query, r *client.Report) error {
	groups := q.GroupBy
	if len(groups) == 0 {
		groups = tally.Dimensions
	}
	var columns []string
	for _, g := range groups {
		if g == tally.ColDate {
			columns = append(columns, q.Granularity.String())
		} else {
			columns = append(columns, g.String())
		}
	}
	columns = append(columns, "count", "sum", "mean")
	compared := len(r.Rows) > 0 && r.Rows[0].Previous != nil
	if compared {
		columns = append(columns, "previous_count", "previous_sum", "previous_mean")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Rows) > 0 {
		fmt.Fprintln(tw, strings.Join(columns, "\t"))
	}
	cells := make([]string, 0, len(columns))
	for _, row := range r.Rows {
		cells = cells[:0]
		for _, g := range groups {
			cells = append(cells, row.Value(g))
		}
		cells = appendAggregates(cells, row.Totals)
		if compared && row.Previous != nil {
			cells = appendAggregates(cells, *row.Previous)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	var footer string
	if len(r.Rows) == 0 {
		footer = fmt.Sprintf("no rows at offset %d of %d", r.Offset, r.TotalCount)
	} else {
		footer = fmt.Sprintf("rows %d-%d of %d", r.Offset+1, r.Offset+len(r.Rows), r.TotalCount)
	}
	if t := r.Totals; t != nil {
		footer += "; totals: " + formatTotals(*t)
	}
	if c := r.Comparison; c != nil {
		footer += fmt.Sprintf("; previous [%s, %s): %s", c.StartDate, c.EndDate, formatTotals(c.Totals))
	}
	_, err := fmt.Fprintln(w, footer)
	return err
}

// appendAggregates appends count, sum and mean: sums exact as the server
// wrote them, means to two decimals (--csv gives them in full).
func appendAggregates(cells []string, t tally.Totals) []string {
	mean := "null"
	if m, ok := t.Mean(); ok {
		mean = strconv.FormatFloat(m, 'f', 2, 64)
	}
	return append(cells, strconv.FormatInt(t.Count, 10), t.Sum.String(), mean)
}

func formatTotals(t tally.Totals) string {
	c := appendAggregates(nil, t)
	return fmt.Sprintf("count %s, sum %s, mean %s", c[0], c[1], c[2])
}
