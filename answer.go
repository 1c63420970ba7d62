package tally

import (
	"context"
	"slices"
	"time"
)

// MaxFilledRows bounds the rows of a report with gap filling, and the date
// buckets of a compared range.
const MaxFilledRows = 1_000_000

// ReportRequest is a report query with what is answered above the store, so
// that every store gets it alike: a relative date range, gap filling and
// the comparison with an earlier range.
type ReportRequest struct {
	Query ReportQuery
	// Range, when given, is resolved into Query.Filter.From and To by
	// Normalize; the bounds must then be open.
	Range DateRange
	// Fill adds, for every combination of the other grouped values that
	// has events in the range, a zero row for each empty date bucket.
	Fill    bool
	Compare Comparison
}

// Normalize resolves the date range on the day now falls on in the query's
// zone, normalizes the query and checks the rules between the options.
// Errors name the parameter at fault.
func (r *ReportRequest) Normalize(now time.Time) error {
	q := &r.Query
	if q.Location == nil {
		q.Location = time.UTC
	}
	if r.Range.Kind != NoDateRange {
		switch {
		case !q.Filter.From.IsZero():
			return FieldErrorf("start_date", "cannot be combined with date_range")
		case !q.Filter.To.IsZero():
			return FieldErrorf("end_date", "cannot be combined with date_range")
		}
		q.Filter.From, q.Filter.To = r.Range.Resolve(now, q.Location)
	}
	if err := q.Normalize(); err != nil {
		return err
	}
	bounded := !q.Filter.From.IsZero() && !q.Filter.To.IsZero()
	if r.Fill {
		if !q.Groups(ColDate) {
			return FieldErrorf("fill", "needs date in group_by")
		}
		if !bounded {
			return FieldErrorf("fill", "needs a bounded range: start_date and end_date, or a date_range other than all")
		}
	}
	if r.Compare > PreviousYear {
		return FieldErrorf("compare", "must be previous_period or previous_year")
	}
	if r.Compare != NoComparison && !bounded {
		return FieldErrorf("compare", "needs a bounded range: start_date and end_date, or a date_range other than all")
	}
	return nil
}

// Answer is a report with, when a comparison was asked for, the earlier
// range's aggregates.
type Answer struct {
	Report
	// Previous[i] aggregates the earlier range's row matching Rows[i]: the
	// same non-date grouped values and the date bucket at the same
	// position from the range's start. Count 0 when there is none.
	Previous   []Totals
	Comparison *ComparisonReport
}

// ComparisonReport is the earlier range a report was compared with.
type ComparisonReport struct {
	From, To time.Time // local midnights; To exclusive
	Totals   Totals
}

// RunReport answers a normalized request from s: one store report for the
// range (every row of it when filling, which is then filled, sorted and
// paged here) and, for a comparison, one for the earlier range.
func RunReport(ctx context.Context, s Store, r *ReportRequest) (Answer, error) {
	q := r.Query
	var a Answer
	if !r.Fill {
		rep, err := s.Report(ctx, q)
		if err != nil {
			return a, err
		}
		a.Report = rep
	} else {
		all := q
		all.Offset, all.Limit = 0, 0
		rep, err := s.Report(ctx, all)
		if err != nil {
			return a, err
		}
		if a.Report, err = FillZero(&q, rep); err != nil {
			return a, err
		}
	}
	if r.Compare == NoComparison {
		return a, nil
	}
	pq := q
	pq.Offset, pq.Limit = 0, 0
	pq.Filter.From, pq.Filter.To = r.Compare.Range(q.Filter.From, q.Filter.To, q.Location)
	prev, err := s.Report(ctx, pq)
	if err != nil {
		return a, err
	}
	a.Comparison = &ComparisonReport{From: pq.Filter.From, To: pq.Filter.To, Totals: prev.Totals}
	if a.Previous, err = matchPrevious(&q, a.Rows, &pq, prev.Rows); err != nil {
		return a, err
	}
	return a, nil
}

// FillZero returns the page q asks for of rep, a report of every row of q's
// range, after adding a zero row for every date bucket of the range that a
// combination of the other grouped values present in rep lacks.
func FillZero(q *ReportQuery, rep Report) (Report, error) {
	out := Report{Totals: rep.Totals}
	var combos []CellKey
	have := make(map[CellKey]bool, len(rep.Rows))
	seen := make(map[CellKey]bool)
	for _, row := range rep.Rows {
		have[row.Key] = true
		c := row.Key
		c.Bucket = 0
		if !seen[c] {
			seen[c] = true
			combos = append(combos, c)
		}
	}
	rows := rep.Rows
	if len(combos) > 0 {
		buckets, ok := Buckets(q.Filter.From, q.Filter.To, q.Granularity, q.Location, MaxFilledRows/len(combos))
		if !ok {
			return Report{}, FieldErrorf("fill", "would make more than the limit of %d rows: "+
				"narrow the range, use a wider granularity or group by fewer dimensions", MaxFilledRows)
		}
		rows = slices.Grow(slices.Clip(rows), len(combos)*len(buckets)-len(rows))
		for _, c := range combos {
			for _, b := range buckets {
				k := c
				k.Bucket = b
				if !have[k] {
					rows = append(rows, Row{Key: k})
				}
			}
		}
	}
	out.TotalCount = len(rows)
	out.Rows = page(q, rows)
	return out, nil
}

// page sorts rows by q and cuts out the page q asks for.
func page(q *ReportQuery, rows []Row) []Row {
	slices.SortFunc(rows, func(x, y Row) int { return q.Compare(&x, &y) })
	start := min(q.Offset, len(rows))
	end := len(rows)
	if q.Limit > 0 {
		end = min(start+q.Limit, len(rows))
	}
	return rows[start:end:end]
}

// Buckets returns the keys of the report buckets (see ReportBucket) that
// the instants of [from, to) fall in, in order; ok is false when there are
// more than limit. It steps with ReportBucket itself, so every zone rule it
// follows (DST days, 30-minute shifts, Monday weeks) holds here too.
func Buckets(from, to time.Time, g Granularity, loc *time.Location, limit int) (keys []int64, ok bool) {
	end := to.Unix()
	for s := from.Unix(); s < end; {
		k := ReportBucket(s, g, loc)
		if n := len(keys); n == 0 || k > keys[n-1] {
			if n == limit {
				return nil, false
			}
			keys = append(keys, k)
		}
		s = nextBucket(s, end, k, g, loc)
	}
	return keys, true
}

// nominal is a bucket's usual length in seconds, the first step when looking
// for the next bucket.
var nominal = [...]int64{Hour: 3600, Day: 86400, Week: 7 * 86400, Month: 28 * 86400}

// nextBucket returns the first instant after s, and before end, whose
// bucket key is not k (the key of s), or end. Keys never decrease with
// time, so it steps ahead by the usual bucket length and then bisects.
func nextBucket(s, end, k int64, g Granularity, loc *time.Location) int64 {
	differs := func(t int64) bool { return t >= end || ReportBucket(t, g, loc) != k }
	lo := s
	for {
		hi := min(lo+nominal[g], end)
		if !differs(hi) {
			lo = hi
			continue
		}
		// The boundary is in (lo, hi]; most buckets have their usual length.
		if hi-1 > lo && !differs(hi-1) {
			return hi
		}
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if differs(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi
	}
}

// matchPrevious returns, for each row of the current page, the aggregates
// of the earlier range's row with the same non-date grouped values and, when
// date is grouped, the bucket at the same position from its range's start.
func matchPrevious(q *ReportQuery, rows []Row, pq *ReportQuery, prev []Row) ([]Totals, error) {
	out := make([]Totals, len(rows))
	if len(rows) == 0 || len(prev) == 0 {
		return out, nil
	}
	// Keys are matched with the bucket replaced by its position from the
	// start of its range.
	cur := func(k CellKey) (CellKey, bool) { return k, true }
	old := cur
	if q.Groups(ColDate) {
		tooMany := FieldErrorf("compare", "the range has more than %d date buckets: narrow it or use a wider granularity", MaxFilledRows)
		curKeys, ok := Buckets(q.Filter.From, q.Filter.To, q.Granularity, q.Location, MaxFilledRows)
		if !ok {
			return nil, tooMany
		}
		prevKeys, ok := Buckets(pq.Filter.From, pq.Filter.To, pq.Granularity, pq.Location, MaxFilledRows)
		if !ok {
			return nil, tooMany
		}
		cur = positions(curKeys)
		old = positions(prevKeys)
	}
	byKey := make(map[CellKey]Totals, len(prev))
	for _, p := range prev {
		if k, ok := old(p.Key); ok {
			byKey[k] = Totals{Count: p.Count, Sum: p.Sum}
		}
	}
	for i, r := range rows {
		if k, ok := cur(r.Key); ok {
			out[i] = byKey[k]
		}
	}
	return out, nil
}

// positions returns a function that replaces a key's bucket with its index
// in keys; false when the bucket is not there (which Buckets rules out).
func positions(keys []int64) func(CellKey) (CellKey, bool) {
	return func(k CellKey) (CellKey, bool) {
		i, ok := slices.BinarySearch(keys, k.Bucket)
		k.Bucket = int64(i)
		return k, ok
	}
}
