package api

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // tz must not depend on the host's zoneinfo files

	"github.com/tallyhq/tally"
)

// Report defaults of the contract.
const (
	defaultLimit = 100
	maxLimit     = 10000
)

// reportRequest is a parsed GET /report.
type reportRequest struct {
	tally.ReportRequest
	csv bool
}

// parseReport decodes the query, already checked for unknown and repeated
// parameters (checkQuery), into a normalized ReportRequest, resolving a
// date_range on the day now falls on. It is the one check of each value:
// its syntax, enum and range, with one message per parameter. The rules
// between values (a dimension in group_by twice, order_by outside
// group_by, start_date after end_date, what compare and fill need) are
// Normalize's.
func parseReport(v url.Values, accept string, now time.Time) (reportRequest, error) {
	var rr reportRequest
	q := &rr.Query
	var err error
	_, hasLimit := v["limit"]
	_, hasOffset := v["offset"]
	switch s, ok := v["format"]; {
	case !ok:
		rr.csv = negotiate(accept, []string{typeJSON, typeCSV}) == typeCSV
	case s[0] == "csv":
		rr.csv = true
	case s[0] != "json":
		return rr, tally.FieldErrorf("format", "must be json or csv")
	}
	// CSV without a page asks for every row.
	if !rr.csv || hasLimit || hasOffset {
		q.Limit = defaultLimit
	}
	if hasLimit {
		if q.Limit, err = intParam(v, "limit", 1, maxLimit); err != nil {
			return rr, err
		}
	}
	if hasOffset {
		if q.Offset, err = intParam(v, "offset", 0, 1<<31-1); err != nil {
			return rr, err
		}
	}
	for _, s := range list(v, "group_by") {
		c, ok := tally.ParseColumn(s)
		if !ok {
			// A metric is refused by Normalize, with the same words.
			return rr, tally.FieldErrorf("group_by", "%q is not a dimension", s)
		}
		q.GroupBy = append(q.GroupBy, c)
	}
	for _, s := range list(v, "order_by") {
		desc := strings.HasPrefix(s, "-")
		c, ok := tally.ParseColumn(strings.TrimPrefix(s, "-"))
		if !ok {
			return rr, tally.FieldErrorf("order_by", "%q is not a column", s)
		}
		q.OrderBy = append(q.OrderBy, tally.Order{Column: c, Desc: desc})
	}
	f := &q.Filter
	if f.Clients, err = int32List(v, "clients"); err != nil {
		return rr, err
	}
	if f.ClientGroups, err = int32List(v, "client_groups"); err != nil {
		return rr, err
	}
	for _, s := range list(v, "device_types") {
		d, ok := tally.ParseDeviceType(s)
		if !ok {
			return rr, tally.FieldErrorf("device_types", "%q is not one of desktop, mobile, tablet, null", s)
		}
		f.DeviceTypes = append(f.DeviceTypes, d)
	}
	for _, s := range list(v, "categories") {
		if s == "null" {
			f.Categories = append(f.Categories, tally.NoCategory)
			continue
		}
		c, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return rr, tally.FieldErrorf("categories", "%q is not a 32-bit integer or null", s)
		}
		f.Categories = append(f.Categories, tally.CategoryOf(int32(c)))
	}
	if f.Valid, err = boolParam(v, "valid"); err != nil {
		return rr, err
	}
	if s := v.Get("granularity"); s != "" {
		g, ok := tally.ParseGranularity(s)
		if !ok {
			return rr, tally.FieldErrorf("granularity", "must be one of hour, day, week, month")
		}
		q.Granularity = g
	}
	q.Location = time.UTC
	if s, ok := v["tz"]; ok {
		// "Local" would depend on the host; "" means UTC to LoadLocation.
		loc, err := time.LoadLocation(s[0])
		if err != nil || s[0] == "Local" || s[0] == "" {
			return rr, tally.FieldErrorf("tz", "%q is not an IANA time zone", s[0])
		}
		q.Location = loc
	}
	if f.From, err = dateParam(v, "start_date", q.Location); err != nil {
		return rr, err
	}
	if f.To, err = dateParam(v, "end_date", q.Location); err != nil {
		return rr, err
	}
	if s, ok := v["date_range"]; ok {
		if rr.Range, ok = tally.ParseDateRange(s[0]); !ok {
			return rr, tally.FieldErrorf("date_range", "must be one of %s", strings.Join(tally.DateRangeNames, ", "))
		}
	}
	if s, ok := v["compare"]; ok {
		if rr.Compare, ok = tally.ParseComparison(s[0]); !ok {
			return rr, tally.FieldErrorf("compare", "must be previous_period or previous_year")
		}
	}
	if s, ok := v["fill"]; ok {
		if s[0] != "zero" {
			return rr, tally.FieldErrorf("fill", "must be zero")
		}
		rr.Fill = true
	}
	if err := rr.Normalize(now); err != nil {
		return rr, err
	}
	return rr, nil
}

// boolParam parses a boolean parameter; nil when absent. Only true and
// false: strconv.ParseBool's 1, t and TRUE are not the contract's.
func boolParam(v url.Values, name string) (*bool, error) {
	s, ok := v[name]
	if !ok {
		return nil, nil
	}
	switch s[0] {
	case "true":
		return ptr(true), nil
	case "false":
		return ptr(false), nil
	}
	return nil, tally.FieldErrorf(name, "must be true or false")
}

func ptr[T any](v T) *T { return &v }

func list(v url.Values, name string) []string {
	s := v.Get(name)
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

func intParam(v url.Values, name string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v.Get(name))
	if err != nil || n < lo || n > hi {
		return 0, tally.FieldErrorf(name, "must be an integer from %d to %d", lo, hi)
	}
	return n, nil
}

func int32List(v url.Values, name string) ([]int32, error) {
	var out []int32
	for _, s := range list(v, name) {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, tally.FieldErrorf(name, "%q is not a 32-bit integer", s)
		}
		out = append(out, int32(n))
	}
	return out, nil
}

// dateParam parses a YYYY-MM-DD date as its first instant in loc: local
// midnight, or the end of a DST gap that skips it.
func dateParam(v url.Values, name string, loc *time.Location) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, tally.FieldErrorf(name, "must be a date, YYYY-MM-DD")
	}
	y, m, day := d.Date()
	return tally.DateStart(y, m, day, loc), nil
}

func (s *server) handleReport(w http.ResponseWriter, r *http.Request) error {
	rr, err := parseReport(r.URL.Query(), r.Header.Get("Accept"), s.now())
	if err != nil {
		return err
	}
	ans, err := tally.RunReport(r.Context(), s.store, &rr.ReportRequest)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if rr.csv {
		return writeCSV(w, &rr.Query, &ans)
	}
	writeJSONBytes(w, http.StatusOK, encodeReport(&rr.ReportRequest, &ans))
	// A small answer sits in the server's buffers until the handler
	// returns; flushing here lets the access log see a report that
	// outlived the write timeout as lost, not as a 200 (see recorder).
	_ = http.NewResponseController(w).Flush()
	return nil
}

// column names a report column as in JSON rows and CSV headers: the date
// dimension under its granularity's name.
func column(q *tally.ReportQuery, c tally.Column) string {
	if c == tally.ColDate {
		return q.Granularity.String()
	}
	return c.String()
}

// appendCell appends the value of grouped dimension c of row r; null
// reports a missing value.
func appendCell(b []byte, q *tally.ReportQuery, c tally.Column, r *tally.Row, quote bool) (out []byte, null bool) {
	k := &r.Key
	str := func(s string) []byte {
		if quote {
			return strconv.AppendQuote(b, s)
		}
		return append(b, s...)
	}
	switch c {
	case tally.ColDate:
		t := time.Unix(k.Bucket, 0).UTC()
		switch q.Granularity {
		case tally.Hour:
			return str(t.In(q.Location).Format(time.RFC3339)), false
		case tally.Month:
			return str(t.Format("2006-01")), false
		default:
			return str(t.Format(time.DateOnly)), false
		}
	case tally.ColDeviceType:
		if k.DeviceType == tally.DeviceNone {
			return b, true
		}
		return str(k.DeviceType.String()), false
	case tally.ColCategory:
		if k.Category == tally.NoCategory {
			return b, true
		}
		return strconv.AppendInt(b, int64(k.Category), 10), false
	case tally.ColClient:
		return strconv.AppendInt(b, int64(k.Client), 10), false
	case tally.ColClientGroup:
		return strconv.AppendInt(b, int64(k.ClientGroup), 10), false
	case tally.ColValid:
		return strconv.AppendBool(b, k.Valid), false
	}
	return b, true
}

func encodeReport(rr *tally.ReportRequest, ans *tally.Answer) []byte {
	q := &rr.Query
	b := make([]byte, 0, 512+len(ans.Rows)*(40+24*len(q.GroupBy)))
	b = append(b, `{"pagination":{"total_count":`...)
	b = strconv.AppendInt(b, int64(ans.TotalCount), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	b = append(b, `,"page_size":`...)
	b = strconv.AppendInt(b, int64(q.Limit), 10)
	b = append(b, `},"rows":[`...)
	for i := range ans.Rows {
		r := &ans.Rows[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for _, c := range q.GroupBy {
			b = strconv.AppendQuote(b, column(q, c))
			b = append(b, ':')
			var null bool
			if b, null = appendCell(b, q, c, r, true); null {
				b = append(b, "null"...)
			}
			b = append(b, ',')
		}
		b = appendAggregates(b, tally.Totals{Count: r.Count, Sum: r.Sum})
		if ans.Previous != nil {
			b = append(b, `,"previous":{`...)
			b = appendAggregates(b, ans.Previous[i])
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, `],"totals":{`...)
	b = appendAggregates(b, ans.Totals)
	b = append(b, '}')
	if c := ans.Comparison; c != nil {
		b = append(b, `,"comparison":{"start_date":`...)
		b = strconv.AppendQuote(b, tally.FormatDate(c.From, q.Location))
		b = append(b, `,"end_date":`...)
		b = strconv.AppendQuote(b, tally.FormatDate(c.To, q.Location))
		b = append(b, `,"totals":{`...)
		b = appendAggregates(b, c.Totals)
		b = append(b, "}}"...)
	}
	b = append(b, `,"query":`...)
	b = appendQuery(b, rr)
	b = append(b, "}\n"...)
	return b
}

// appendAggregates appends the count, sum and mean members of an object;
// the mean is null when the count is 0.
func appendAggregates(b []byte, t tally.Totals) []byte {
	b = append(b, `"count":`...)
	b = strconv.AppendInt(b, t.Count, 10)
	b = append(b, `,"sum":`...)
	b = t.Sum.Append(b)
	b = append(b, `,"mean":`...)
	if mean, ok := t.Mean(); ok {
		return appendFloat(b, mean)
	}
	return append(b, "null"...)
}

// appendQuery appends the normalized query a report answered, with its
// date range resolved; an absent filter or option is null.
func appendQuery(b []byte, rr *tally.ReportRequest) []byte {
	q := &rr.Query
	f := &q.Filter
	b = append(b, `{"group_by":[`...)
	for i, c := range q.GroupBy {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c.String())
	}
	b = append(b, `],"order_by":[`...)
	for i, o := range q.OrderBy {
		if i > 0 {
			b = append(b, ',')
		}
		name := o.Column.String()
		if o.Desc {
			name = "-" + name
		}
		b = strconv.AppendQuote(b, name)
	}
	b = append(b, `],"granularity":`...)
	b = strconv.AppendQuote(b, q.Granularity.String())
	b = append(b, `,"tz":`...)
	b = strconv.AppendQuote(b, q.Location.String())
	b = append(b, `,"date_range":`...)
	b = appendStringOrNull(b, rr.Range.String())
	for _, d := range []struct {
		name string
		t    time.Time
	}{{"start_date", f.From}, {"end_date", f.To}} {
		b = append(b, `,"`+d.name+`":`...)
		if d.t.IsZero() {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendQuote(b, tally.FormatDate(d.t, q.Location))
		}
	}
	b = append(b, `,"clients":`...)
	b = appendList(b, f.Clients, func(b []byte, v int32) []byte { return strconv.AppendInt(b, int64(v), 10) })
	b = append(b, `,"client_groups":`...)
	b = appendList(b, f.ClientGroups, func(b []byte, v int32) []byte { return strconv.AppendInt(b, int64(v), 10) })
	b = append(b, `,"device_types":`...)
	b = appendList(b, f.DeviceTypes, func(b []byte, d tally.DeviceType) []byte {
		if d == tally.DeviceNone {
			return append(b, "null"...)
		}
		return strconv.AppendQuote(b, d.String())
	})
	b = append(b, `,"categories":`...)
	b = appendList(b, f.Categories, func(b []byte, c tally.Category) []byte {
		if c == tally.NoCategory {
			return append(b, "null"...)
		}
		return strconv.AppendInt(b, int64(c), 10)
	})
	b = append(b, `,"valid":`...)
	if f.Valid == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendBool(b, *f.Valid)
	}
	b = append(b, `,"compare":`...)
	b = appendStringOrNull(b, rr.Compare.String())
	b = append(b, `,"fill":`...)
	if rr.Fill {
		b = append(b, `"zero"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(q.Limit), 10)
	return append(b, '}')
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return strconv.AppendQuote(b, s)
}

// appendList appends vs as a JSON array, or null for a nil list (no filter).
func appendList[T any](b []byte, vs []T, elem func([]byte, T) []byte) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, v)
	}
	return append(b, ']')
}

// csvFlushRows is how many rows are written between flushes, so that a long
// report reaches the client as it is written.
const csvFlushRows = 1000

func writeCSV(w http.ResponseWriter, q *tally.ReportQuery, rep *tally.Answer) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	record := make([]string, 0, len(q.GroupBy)+6)
	for _, c := range q.GroupBy {
		record = append(record, column(q, c))
	}
	record = append(record, "count", "sum", "mean")
	if rep.Previous != nil {
		record = append(record, "previous_count", "previous_sum", "previous_mean")
	}
	if err := cw.Write(record); err != nil {
		return nil // the client has gone; the status is already sent
	}
	var buf []byte
	rc := http.NewResponseController(w)
	for i := range rep.Rows {
		r := &rep.Rows[i]
		record = record[:0]
		for _, c := range q.GroupBy {
			var null bool
			buf, null = appendCell(buf[:0], q, c, r, false)
			if null {
				record = append(record, "")
			} else {
				record = append(record, string(buf))
			}
		}
		// One conversion per statement: the order of evaluation of a call's
		// arguments would let the second append overwrite the first.
		record = appendCSVAggregates(record, tally.Totals{Count: r.Count, Sum: r.Sum})
		if rep.Previous != nil {
			record = appendCSVAggregates(record, rep.Previous[i])
		}
		if err := cw.Write(record); err != nil {
			return nil
		}
		if (i+1)%csvFlushRows == 0 {
			cw.Flush()
			_ = rc.Flush()
		}
	}
	cw.Flush()
	// As in handleReport: a failed write or flush is recorded for the
	// access log; the status is already sent, so there is nothing to return.
	_ = rc.Flush()
	return nil
}

// appendCSVAggregates appends the count, sum and mean fields; the mean is
// empty (null) when the count is 0.
func appendCSVAggregates(record []string, t tally.Totals) []string {
	record = append(record, strconv.FormatInt(t.Count, 10), t.Sum.String())
	if mean, ok := t.Mean(); ok {
		return append(record, string(appendFloat(nil, mean)))
	}
	return append(record, "")
}
