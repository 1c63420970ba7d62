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
	q   tally.ReportQuery
	csv bool
}

// parseReport decodes the validated query into a normalized ReportQuery.
// The document has already checked each value's syntax, enum and range;
// what remains are the conversions and the rules that need the domain.
func parseReport(v url.Values, accept string) (reportRequest, error) {
	var rr reportRequest
	q := &rr.q
	var err error
	_, hasLimit := v["limit"]
	_, hasOffset := v["offset"]
	switch v.Get("format") {
	case "csv":
		rr.csv = true
	case "json":
	default:
		rr.csv = negotiate(accept, []string{typeJSON, typeCSV}) == typeCSV
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
		if !ok || !c.IsDimension() {
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
			return rr, tally.FieldErrorf("device_types", "%q is not a device type", s)
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
	if s, ok := v["valid"]; ok {
		// The document's boolean also admits 1, t, TRUE…: the contract says
		// true or false.
		switch s[0] {
		case "true":
			f.Valid = ptr(true)
		case "false":
			f.Valid = ptr(false)
		default:
			return rr, tally.FieldErrorf("valid", "must be true or false")
		}
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
	if err := q.Normalize(); err != nil {
		return rr, err
	}
	return rr, nil
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

// dateParam parses a YYYY-MM-DD date as its midnight in loc.
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
	return time.Date(y, m, day, 0, 0, 0, 0, loc), nil
}

func (s *server) handleReport(w http.ResponseWriter, r *http.Request) error {
	rr, err := parseReport(r.URL.Query(), r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	rep, err := s.store.Report(r.Context(), rr.q)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if rr.csv {
		return writeCSV(w, &rr.q, &rep)
	}
	writeJSONBytes(w, http.StatusOK, encodeReport(&rr.q, &rep))
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

func encodeReport(q *tally.ReportQuery, rep *tally.Report) []byte {
	b := make([]byte, 0, 128+len(rep.Rows)*(40+24*len(q.GroupBy)))
	b = append(b, `{"pagination":{"total_count":`...)
	b = strconv.AppendInt(b, int64(rep.TotalCount), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	b = append(b, `,"page_size":`...)
	b = strconv.AppendInt(b, int64(q.Limit), 10)
	b = append(b, `},"rows":[`...)
	for i := range rep.Rows {
		r := &rep.Rows[i]
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
		b = append(b, `"count":`...)
		b = strconv.AppendInt(b, r.Count, 10)
		b = append(b, `,"sum":`...)
		b = r.Sum.Append(b)
		b = append(b, `,"mean":`...)
		b = appendFloat(b, r.Mean())
		b = append(b, '}')
	}
	t := rep.Totals
	b = append(b, `],"totals":{"count":`...)
	b = strconv.AppendInt(b, t.Count, 10)
	b = append(b, `,"sum":`...)
	b = t.Sum.Append(b)
	b = append(b, `,"mean":`...)
	if mean, ok := t.Mean(); ok {
		b = appendFloat(b, mean)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, "}}\n"...)
	return b
}

// csvFlushRows is how many rows are written between flushes, so that a long
// report reaches the client as it is written.
const csvFlushRows = 1000

func writeCSV(w http.ResponseWriter, q *tally.ReportQuery, rep *tally.Report) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	record := make([]string, 0, len(q.GroupBy)+3)
	for _, c := range q.GroupBy {
		record = append(record, column(q, c))
	}
	record = append(record, "count", "sum", "mean")
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
		record = append(record, strconv.FormatInt(r.Count, 10))
		buf = r.Sum.Append(buf[:0])
		record = append(record, string(buf))
		buf = appendFloat(buf[:0], r.Mean())
		record = append(record, string(buf))
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
