package storetest

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
)

// The randomized test draws events from small pools, so that groups collide,
// over about 60 days that include DST changes in Europe, North America,
// Newfoundland (a :30 offset) and Lord Howe Island (which shifts by 30
// minutes), and Chatham's :45 offset.
var (
	randomStart   = time.Date(2025, 9, 20, 0, 0, 0, 0, time.UTC)
	randomDays    = 60
	randomClients = []int32{math.MinInt32, -1, 0, 1, 2, 7, math.MaxInt32}
	randomGroups  = []int32{0, 1, 2, math.MinInt32}
	randomCats    = []tally.Category{tally.NoCategory, tally.NoCategory, 0, 1, 2, -1, math.MaxInt32}
	randomZones   = []string{"Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns"}
)

func testRandom(t *testing.T, newStore func(t *testing.T) tally.Store, opts Options) {
	seed := opts.Seed
	if v := os.Getenv("TALLY_STORETEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("TALLY_STORETEST_SEED: %v", err)
		}
	}
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed %d; replay with TALLY_STORETEST_SEED=%d", seed, seed)
		}
	})
	r := rand.New(rand.NewPCG(uint64(seed), uint64(seed>>32)))
	zones := []*time.Location{time.UTC}
	for _, name := range randomZones {
		zones = append(zones, loadZone(t, name))
	}

	s := newStore(t)
	events := loadRandom(t, s, r, opts.RandomEvents, zones)

	failures := 0
	for i := range opts.RandomQueries {
		if i%50 == 49 {
			// Deletion by filter, then fresh events, between reports.
			events = deleteRandom(t, s, r, events, zones)
			more := make([]tally.Event, 1+r.IntN(100))
			for j := range more {
				more[j] = randomEvent(r, zones)
			}
			if _, err := s.CreateEvents(context.Background(), more); err != nil {
				t.Fatalf("CreateEvents: %v", err)
			}
			events = append(events, more...)
		}
		q := randomQuery(r, zones)
		if err := q.Normalize(); err != nil {
			t.Fatalf("query %d: Normalize: %v", i, err)
		}
		got, err := s.Report(context.Background(), q)
		if err != nil {
			t.Fatalf("query %d: %s: Report: %v", i, describe(&q), err)
		}
		if msg := compareReports(&q, naiveReport(events, &q), got); msg != "" {
			t.Errorf("query %d: %s:\n%s", i, describe(&q), msg)
			if failures++; failures == 5 {
				t.FailNow()
			}
		}
	}
}

// loadRandom stores n random events through both CreateEvent and
// CreateEvents, with duplicates, checks each outcome, deletes about a tenth
// and returns the events that remain.
func loadRandom(t *testing.T, s tally.Store, r *rand.Rand, n int, zones []*time.Location) []tally.Event {
	t.Helper()
	ctx := context.Background()
	fresh := make([]tally.Event, n)
	for i := range fresh {
		fresh[i] = randomEvent(r, zones)
	}
	stored := make(map[tally.ID]tally.Event, n)
	var order []tally.ID // insertion order, for reproducible deletes

	// A duplicate keeps its id but changes everything else, so that a store
	// that overwrites shows in the reports.
	dup := func(id tally.ID) tally.Event {
		e := randomEvent(r, zones)
		e.ID = id
		return e
	}
	for i := 0; i < len(fresh); {
		if r.IntN(10) == 0 {
			e := fresh[i]
			i++
			if err := s.CreateEvent(ctx, e); err != nil {
				t.Fatalf("CreateEvent: %v", err)
			}
			stored[e.ID] = e
			order = append(order, e.ID)
			if r.IntN(4) == 0 {
				wantCode(t, "CreateEvent of a stored id", s.CreateEvent(ctx, dup(e.ID)), tally.EConflict)
			}
			continue
		}
		size := min(1+r.IntN(400), len(fresh)-i)
		batch := slices.Clone(fresh[i : i+size])
		i += size
		for range r.IntN(4) { // ids already stored or repeated in the batch
			if len(order) > 0 && r.IntN(2) == 0 {
				batch = append(batch, dup(order[r.IntN(len(order))]))
			} else {
				batch = append(batch, dup(batch[r.IntN(len(batch))].ID))
			}
		}
		r.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
		want := make([]bool, len(batch))
		for j, e := range batch {
			if _, ok := stored[e.ID]; !ok {
				want[j] = true
				stored[e.ID] = e
				order = append(order, e.ID)
			}
		}
		got, err := s.CreateEvents(ctx, batch)
		if err != nil {
			t.Fatalf("CreateEvents: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("CreateEvents inserted (-want +got):\n%s", diff)
		}
	}
	for _, id := range order {
		if r.IntN(4) != 0 {
			continue
		}
		if err := s.DeleteEvent(ctx, id); err != nil {
			t.Fatalf("DeleteEvent: %v", err)
		}
		delete(stored, id)
	}
	live := make([]tally.Event, 0, len(stored))
	for _, id := range order {
		if e, ok := stored[id]; ok {
			live = append(live, e)
		}
	}
	return live
}

// deleteRandom deletes the events of a random report filter with
// DeleteEvents, checks the count against the naive one, and returns the
// events left.
func deleteRandom(t *testing.T, s tally.Store, r *rand.Rand, events []tally.Event, zones []*time.Location) []tally.Event {
	t.Helper()
	q := randomQuery(r, zones)
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	var left []tally.Event
	var want int64
	for _, e := range events {
		if naiveMatch(&e, &q.Filter) {
			want++
		} else {
			left = append(left, e)
		}
	}
	got, err := s.DeleteEvents(context.Background(), q.Filter)
	if err != nil {
		t.Fatalf("DeleteEvents(%s): %v", describe(&q), err)
	}
	if got != want {
		t.Fatalf("DeleteEvents(%s) = %d, want %d", describe(&q), got, want)
	}
	return left
}

func randomEvent(r *rand.Rand, zones []*time.Location) tally.Event {
	var id tally.ID
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	ts := randomStart.Add(time.Duration(r.Int64N(int64(randomDays)*24*3600*1e6)) * time.Microsecond)
	switch r.IntN(20) {
	case 0, 1: // on a whole hour
		ts = ts.Truncate(time.Hour)
	case 2: // on a local midnight, where day buckets and bounds start
		loc := zones[r.IntN(len(zones))]
		l := ts.In(loc)
		ts = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).UTC()
	case 3: // within the hour after a change of offset, where an hour bucket may start off the hour
		loc := zones[r.IntN(len(zones))]
		if start, _ := ts.In(loc).ZoneBounds(); !start.IsZero() && !start.Before(randomStart) {
			ts = start.Add(time.Duration(r.Int64N(int64(time.Hour/time.Microsecond))) * time.Microsecond).UTC()
		}
	}
	return tally.Event{
		ID:          id,
		DeviceType:  tally.DeviceType(r.IntN(4)),
		Category:    randomCats[r.IntN(len(randomCats))],
		Client:      randomClients[r.IntN(len(randomClients))],
		ClientGroup: randomGroups[r.IntN(len(randomGroups))],
		Timestamp:   ts,
		Valid:       r.IntN(3) != 0,
		Value:       randomValue(r),
	}
}

// randomValue draws adversarial values: cents beside the largest values
// allowed, both signs, and millionths, so that any sum kept in floating
// point, or rounded before the end, shows in the reports.
func randomValue(r *rand.Rand) tally.Decimal {
	switch r.IntN(10) {
	case 0:
		return tally.MaxValue
	case 1:
		return tally.MaxValue.Neg()
	case 2: // the largest values less a cent or a millionth
		return tally.MaxValue.Sub(tally.DecimalFromMicros(int64(1 + r.IntN(2)*9_999)))
	case 3: // millionths
		return tally.DecimalFromMicros(int64(r.IntN(2001) - 1000))
	case 4: // 0.1, 0.2, 0.3 and their like
		return tally.DecimalFromMicros(int64(r.IntN(10)-3) * 100_000)
	}
	return tally.DecimalFromMicros(int64(r.IntN(40001)-10000) * 10_000) // cents
}

func randomQuery(r *rand.Rand, zones []*time.Location) tally.ReportQuery {
	var q tally.ReportQuery
	grouped := slices.Clone(tally.Dimensions)
	if r.IntN(8) != 0 {
		r.Shuffle(len(grouped), func(a, b int) { grouped[a], grouped[b] = grouped[b], grouped[a] })
		grouped = grouped[:1+r.IntN(len(grouped))]
		q.GroupBy = grouped
	}
	orderable := append(slices.Clone(grouped), tally.ColCount, tally.ColSum, tally.ColMean)
	r.Shuffle(len(orderable), func(a, b int) { orderable[a], orderable[b] = orderable[b], orderable[a] })
	for _, c := range orderable[:r.IntN(4)] {
		q.OrderBy = append(q.OrderBy, tally.Order{Column: c, Desc: r.IntN(2) == 0})
	}
	q.Granularity = tally.Granularity(r.IntN(4))
	if r.IntN(2) == 0 {
		q.Location = zones[r.IntN(len(zones))]
	}
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}

	f := &q.Filter
	if r.IntN(4) == 0 {
		f.Clients = pick(r, append(slices.Clone(randomClients), 42))
	}
	if r.IntN(4) == 0 {
		f.ClientGroups = pick(r, append(slices.Clone(randomGroups), 42))
	}
	if r.IntN(4) == 0 {
		f.DeviceTypes = pick(r, []tally.DeviceType{tally.DeviceNone, tally.DeviceDesktop, tally.DeviceMobile, tally.DeviceTablet})
	}
	if r.IntN(4) == 0 {
		f.Categories = pick(r, append(slices.Clone(randomCats), 42))
	}
	if r.IntN(5) == 0 {
		f.Valid = ptr(r.IntN(2) == 0)
	}
	midnight := func() time.Time {
		d := randomStart.AddDate(0, 0, r.IntN(randomDays+6)-3)
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	}
	switch r.IntN(8) {
	case 0, 1, 2: // whole local days, as the API asks
		f.From = midnight()
		f.To = f.From.AddDate(0, 0, r.IntN(30))
	case 3:
		f.From = midnight()
	case 4:
		f.To = midnight()
	case 5: // arbitrary whole hours, which cells of a day cannot answer
		f.From = randomStart.Add(time.Duration(r.IntN(randomDays*24)) * time.Hour)
		f.To = f.From.Add(time.Duration(r.IntN(20*24)) * time.Hour)
	}
	if r.IntN(2) == 0 {
		q.Limit = 1 + r.IntN(50)
		q.Offset = r.IntN(60)
	}
	return q
}

// pick returns a random non-empty subset of vs.
func pick[T any](r *rand.Rand, vs []T) []T {
	vs = slices.Clone(vs)
	r.Shuffle(len(vs), func(a, b int) { vs[a], vs[b] = vs[b], vs[a] })
	return vs[:1+r.IntN(len(vs))]
}

// naiveRow is a row of the naive recomputation: its grouped columns as the
// API writes them, and the values to sort them by.
type naiveRow struct {
	labels []string
	date   int64 // sortable position of the date bucket
	device string
	cat    *int64 // nil for null
	client int64
	group  int64
	valid  bool
	count  int64
	sum    *big.Rat
}

type naiveResult struct {
	rows  []*naiveRow // the requested page
	total int
	count int64    // of all matching events
	sum   *big.Rat // of all matching events
}

// ratOf is d as an exact rational, read from its decimal text so that the
// recomputation shares no arithmetic with tally.Decimal.
func ratOf(d tally.Decimal) *big.Rat {
	r, ok := new(big.Rat).SetString(d.String())
	if !ok {
		panic("storetest: Decimal.String() is not a number: " + d.String())
	}
	return r
}

// naiveMean is the exact mean rounded once to a float64, as reports print
// and order it.
func naiveMean(sum *big.Rat, count int64) float64 {
	f, _ := new(big.Rat).Quo(sum, new(big.Rat).SetInt64(count)).Float64()
	return f
}

// naiveReport recomputes a report from raw events the slow and obvious way,
// sharing no code with tally.Aggregator.
func naiveReport(events []tally.Event, q *tally.ReportQuery) naiveResult {
	groups := make(map[string]*naiveRow)
	var all []*naiveRow
	res := naiveResult{sum: new(big.Rat)}
	for i := range events {
		e := &events[i]
		if !naiveMatch(e, &q.Filter) {
			continue
		}
		v := ratOf(e.Value)
		res.count++
		res.sum.Add(res.sum, v)
		row := &naiveRow{sum: new(big.Rat)}
		for _, c := range q.GroupBy {
			var label string
			switch c {
			case tally.ColDate:
				label, row.date = naiveBucket(e.Timestamp, q.Granularity, q.Location)
			case tally.ColDeviceType:
				label = [...]string{"null", "desktop", "mobile", "tablet"}[e.DeviceType]
				row.device = label
			case tally.ColCategory:
				label = "null"
				if e.Category != tally.NoCategory {
					v := int64(e.Category)
					row.cat = &v
					label = strconv.FormatInt(v, 10)
				}
			case tally.ColClient:
				row.client = int64(e.Client)
				label = strconv.FormatInt(row.client, 10)
			case tally.ColClientGroup:
				row.group = int64(e.ClientGroup)
				label = strconv.FormatInt(row.group, 10)
			case tally.ColValid:
				row.valid = e.Valid
				label = strconv.FormatBool(e.Valid)
			}
			row.labels = append(row.labels, label)
		}
		key := strings.Join(row.labels, "|")
		g, ok := groups[key]
		if !ok {
			g = row
			groups[key] = g
			all = append(all, g)
		}
		g.count++
		g.sum.Add(g.sum, v)
	}
	slices.SortFunc(all, func(x, y *naiveRow) int { return naiveCompare(q, x, y) })
	res.total = len(all)
	start := min(q.Offset, len(all))
	end := len(all)
	if q.Limit > 0 && start+q.Limit < end {
		end = start + q.Limit
	}
	res.rows = all[start:end]
	return res
}

func naiveMatch(e *tally.Event, f *tally.Filter) bool {
	return (f.Clients == nil || slices.Contains(f.Clients, e.Client)) &&
		(f.ClientGroups == nil || slices.Contains(f.ClientGroups, e.ClientGroup)) &&
		(f.DeviceTypes == nil || slices.Contains(f.DeviceTypes, e.DeviceType)) &&
		(f.Categories == nil || slices.Contains(f.Categories, e.Category)) &&
		(f.Valid == nil || *f.Valid == e.Valid) &&
		(f.From.IsZero() || !e.Timestamp.Before(f.From)) &&
		(f.To.IsZero() || e.Timestamp.Before(f.To))
}

// naiveBucket returns the label of the bucket ts falls in and a number that
// sorts buckets chronologically.
func naiveBucket(ts time.Time, g tally.Granularity, loc *time.Location) (string, int64) {
	local := ts.In(loc)
	var label string
	switch g {
	case tally.Hour:
		// The local wall clock, in seconds, modulo an hour gives how far
		// into its local hour the instant is.
		_, offset := local.Zone()
		wall := ts.Unix() + int64(offset)
		start := ts.Unix() - ((wall%3600)+3600)%3600
		// The bucket is the run of instants sharing the local date, hour
		// and offset: when the offset changed within the hour, it starts
		// at the change, found here one second at a time.
		for {
			if _, o := time.Unix(start, 0).In(loc).Zone(); o == offset {
				break
			}
			start++
		}
		return time.Unix(start, 0).In(loc).Format(time.RFC3339), start
	case tally.Day:
		label = local.Format(time.DateOnly)
	case tally.Week:
		// Walk back through the calendar to the Monday of the ISO week.
		year, week := local.ISOWeek()
		d := time.Date(local.Year(), local.Month(), local.Day(), 12, 0, 0, 0, time.UTC)
		for d.Weekday() != time.Monday {
			d = d.AddDate(0, 0, -1)
		}
		if y, w := d.ISOWeek(); y != year || w != week {
			panic("naiveBucket: lost the ISO week")
		}
		label = d.Format(time.DateOnly)
	case tally.Month:
		label = local.Format("2006-01")
		d, _ := time.Parse("2006-01", label)
		return label, d.Unix()
	}
	d, _ := time.Parse(time.DateOnly, label)
	return label, d.Unix()
}

func naiveCompare(q *tally.ReportQuery, x, y *naiveRow) int {
	used := make(map[tally.Column]bool)
	for _, o := range q.OrderBy {
		used[o.Column] = true
		c := naiveCompareColumn(o.Column, x, y)
		if o.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	for _, g := range q.GroupBy {
		if !used[g] {
			if c := naiveCompareColumn(g, x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

func naiveCompareColumn(c tally.Column, x, y *naiveRow) int {
	switch c {
	case tally.ColDate:
		return compareInts(x.date, y.date)
	case tally.ColDeviceType: // null first, then by name
		switch {
		case x.device == y.device:
			return 0
		case x.device == "null":
			return -1
		case y.device == "null":
			return 1
		}
		return strings.Compare(x.device, y.device)
	case tally.ColCategory:
		switch {
		case x.cat == nil && y.cat == nil:
			return 0
		case x.cat == nil:
			return -1
		case y.cat == nil:
			return 1
		}
		return compareInts(*x.cat, *y.cat)
	case tally.ColClient:
		return compareInts(x.client, y.client)
	case tally.ColClientGroup:
		return compareInts(x.group, y.group)
	case tally.ColValid:
		switch {
		case x.valid == y.valid:
			return 0
		case y.valid:
			return -1
		}
		return 1
	case tally.ColCount:
		return compareInts(x.count, y.count)
	case tally.ColSum:
		return x.sum.Cmp(y.sum)
	case tally.ColMean:
		return compareFloats(naiveMean(x.sum, x.count), naiveMean(y.sum, y.count))
	}
	panic(fmt.Sprintf("naiveCompareColumn: column %d", c))
}

func compareInts(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func compareFloats(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// compareReports describes how got differs from want, or returns "".
// Counts and sums must be equal, exactly.
func compareReports(q *tally.ReportQuery, want naiveResult, got tally.Report) string {
	var b strings.Builder
	if got.TotalCount != want.total {
		fmt.Fprintf(&b, "TotalCount %d, want %d\n", got.TotalCount, want.total)
	}
	if got.Totals.Count != want.count || ratOf(got.Totals.Sum).Cmp(want.sum) != 0 {
		fmt.Fprintf(&b, "Totals %d %s, want %d %s\n", got.Totals.Count, got.Totals.Sum, want.count, want.sum.FloatString(6))
	}
	if len(got.Rows) != len(want.rows) {
		fmt.Fprintf(&b, "%d rows, want %d\n", len(got.Rows), len(want.rows))
	}
	bad := 0
	for i := range max(len(got.Rows), len(want.rows)) {
		var g, w string
		ok := i < len(got.Rows) && i < len(want.rows)
		if i < len(got.Rows) {
			r := got.Rows[i]
			g = fmt.Sprintf("%s: %d %s", strings.Join(storeKey(q, r.Key), " "), r.Count, r.Sum)
			if r.Key != zeroUngrouped(q, r.Key) {
				g += " (columns not grouped are set)"
				ok = false
			}
		}
		if i < len(want.rows) {
			r := want.rows[i]
			w = fmt.Sprintf("%s: %d %s", strings.Join(r.labels, " "), r.count, r.sum.FloatString(6))
		}
		if ok {
			gr, wr := got.Rows[i], want.rows[i]
			ok = strings.Join(storeKey(q, gr.Key), " ") == strings.Join(wr.labels, " ") &&
				gr.Count == wr.count && ratOf(gr.Sum).Cmp(wr.sum) == 0
		}
		if !ok {
			fmt.Fprintf(&b, "row %d: got %q, want %q\n", q.Offset+i, g, w)
			if bad++; bad == 10 {
				b.WriteString("...\n")
				break
			}
		}
	}
	return b.String()
}
