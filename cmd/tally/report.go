package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// reportParams lists report's flags that become query parameters of the same
// name with '-' written '_'. The server validates them: the client passes
// them through so that it never disagrees with the server.
var reportParams = []struct{ flag, usage string }{
	{"group-by", "`columns` to group by, comma or space separated (default all six)"},
	{"order-by", "`columns` to order by, each optionally prefixed with - for descending"},
	{"clients", "keep only these clients (a `list`)"},
	{"client-groups", "keep only these client groups (a `list`)"},
	{"device-types", "keep only these device types (a `list` of desktop, mobile, tablet, null)"},
	{"categories", "keep only these categories (a `list` of integers or null)"},
	{"valid", "keep only valid (true) or invalid (false) events (a `bool`)"},
	{"start-date", "keep events on or after this `date` (YYYY-MM-DD)"},
	{"end-date", "keep events before this `date` (YYYY-MM-DD, exclusive)"},
	{"granularity", "`width` of the date buckets: hour, day, week or month"},
	{"tz", "IANA time `zone` of the date buckets and bounds"},
	{"date-range", "a `range` relative to today, instead of the dates: today, yesterday, 7d, 30d, 90d, month, last_month, year or all"},
	{"compare", "also show the earlier `period`: previous_period or previous_year (needs a bounded range)"},
	{"fill", "`zero` lists the empty date buckets too (needs date in --group-by and a bounded range)"},
	{"offset", "`rows` to skip"},
	{"limit", "`rows` to return"},
}

type reportConfig struct {
	URL    string
	APIKey string
	Query  url.Values
	CSV    bool
}

func parseReportConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (reportConfig, error) {
	var cfg reportConfig
	values := make([]string, len(reportParams))
	fs.StringVar(&cfg.URL, "url", "", "base `URL` of the server (default: http://127.0.0.1 on the port of TALLY_ADDR, or its host when it names one; else http://127.0.0.1:8080)")
	apiKey := apiKeyFlag(fs, getenv)
	fs.BoolVar(&cfg.CSV, "csv", false, "print the report as CSV, every row unless --offset or --limit is given")
	for i, p := range reportParams {
		fs.StringVar(&values[i], p.flag, "", p.usage)
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
	if err := checkBaseURL(cfg.URL); err != nil {
		return reportConfig{}, usageError{fmt.Errorf("--url: %w", err)}
	}
	cfg.APIKey = apiKey()
	cfg.Query = url.Values{}
	for i, p := range reportParams {
		if values[i] != "" {
			cfg.Query.Set(strings.ReplaceAll(p.flag, "-", "_"), values[i])
		}
	}
	if cfg.CSV {
		cfg.Query.Set("format", "csv")
	}
	return cfg, nil
}

func (c *cli) report(ctx context.Context, args []string) error {
	fs := c.newFlagSet("report", "Print a running server's aggregated report as a table (or CSV).")
	cfg, err := parseReportConfig(fs, args, c.getenv)
	if err != nil {
		return helpOK(err)
	}
	target := endpoint(cfg.URL, "/report")
	if q := cfg.Query.Encode(); q != "" {
		target += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if cfg.CSV {
		req.Header.Set("Accept", "text/csv")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("server answered %s: %s", resp.Status, errorMessage(body))
	}
	if cfg.CSV {
		if _, err := io.Copy(c.stdout, resp.Body); err != nil {
			return fmt.Errorf("report: reading the CSV: %w", err)
		}
		return nil
	}
	var r reportBody
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("report: decoding the answer: %w", err)
	}
	return writeReportTable(c.stdout, &r)
}

// reportBody is the JSON answer of GET /report. Rows keep their keys in the
// server's order, which is the group_by order.
type reportBody struct {
	Pagination struct {
		TotalCount int64 `json:"total_count"`
		Offset     int64 `json:"offset"`
		PageSize   int64 `json:"page_size"`
	} `json:"pagination"`
	Rows       []orderedObject `json:"rows"`
	Totals     *aggregates     `json:"totals"`
	Comparison *struct {
		StartDate string     `json:"start_date"`
		EndDate   string     `json:"end_date"`
		Totals    aggregates `json:"totals"`
	} `json:"comparison"`
}

type aggregates struct {
	Count int64       `json:"count"`
	Sum   json.Number `json:"sum"` // exact: shown as written
	Mean  *float64    `json:"mean"`
}

func (a *aggregates) String() string {
	mean := "null"
	if a.Mean != nil {
		mean = formatFloat(*a.Mean)
	}
	return fmt.Sprintf("count %d, sum %s, mean %s", a.Count, a.Sum, mean)
}

type field struct {
	key   string
	value json.RawMessage
}

// orderedObject is a JSON object read with its keys in order.
type orderedObject []field

func (o *orderedObject) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("a row is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if key == "previous" {
			// With --compare: its members become columns of their own.
			var prev orderedObject
			if err := prev.UnmarshalJSON(v); err != nil {
				return err
			}
			for _, f := range prev {
				*o = append(*o, field{"previous_" + f.key, f.value})
			}
			continue
		}
		*o = append(*o, field{key, v})
	}
	return nil
}

// writeReportTable writes the rows as an aligned table, columns in the order
// of the first row, then one line with the page and the totals.
func writeReportTable(w io.Writer, r *reportBody) error {
	var columns []string
	index := map[string]int{}
	for _, row := range r.Rows {
		for _, f := range row {
			if _, ok := index[f.key]; !ok {
				index[f.key] = len(columns)
				columns = append(columns, f.key)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(columns) > 0 {
		fmt.Fprintln(tw, strings.Join(columns, "\t"))
	}
	cells := make([]string, len(columns))
	for _, row := range r.Rows {
		clear(cells)
		for _, f := range row {
			cells[index[f.key]] = formatCell(f.key, f.value)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	p := r.Pagination
	var footer string
	if len(r.Rows) == 0 {
		footer = fmt.Sprintf("no rows at offset %d of %d", p.Offset, p.TotalCount)
	} else {
		footer = fmt.Sprintf("rows %d-%d of %d", p.Offset+1, p.Offset+int64(len(r.Rows)), p.TotalCount)
	}
	if t := r.Totals; t != nil {
		footer += "; totals: " + t.String()
	}
	if c := r.Comparison; c != nil {
		footer += fmt.Sprintf("; previous [%s, %s): %s", c.StartDate, c.EndDate, c.Totals.String())
	}
	_, err := fmt.Fprintln(w, footer)
	return err
}

// formatCell renders one JSON value for people: strings unquoted, means to
// two decimals (--csv gives them in full). Sums are exact decimals and are
// shown as the server wrote them.
func formatCell(key string, v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	switch {
	case s == "null":
		return "null"
	case strings.HasPrefix(s, `"`):
		var str string
		if json.Unmarshal(v, &str) == nil {
			return str
		}
	case key == "mean" || key == "previous_mean":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return formatFloat(f)
		}
	}
	return s
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
