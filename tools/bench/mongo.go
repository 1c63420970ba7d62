package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/internal/ferretdb"
	"github.com/tallyhq/tally/tools/gen"
	"github.com/tallyhq/tally/tools/proc"
)

// StoreFerretDB is Config.Store for a FerretDB the bench builds from the
// clone's tools/ferretdb and starts itself.
const StoreFerretDB = "mongodb"

// IsMongo reports whether store names a MongoDB store: StoreFerretDB or a
// mongodb:// or mongodb+srv:// URI.
func IsMongo(store string) bool {
	return store == StoreFerretDB || strings.HasPrefix(store, "mongodb://") || strings.HasPrefix(store, "mongodb+srv://")
}

// MongoSizeResult is what one data set measured on a MongoDB store, with
// two instances, A and B, serving one database.
type MongoSizeResult struct {
	Events int // loaded
	// The data set went through A alone (One) and through A and B at once
	// (Two) in alternate parts (loadPhases), with the same number of
	// posters.
	OneEvents, TwoEvents int
	OneTime, TwoTime     time.Duration
	// Retries are the transactions run again (tally_store_commit_retries_total
	// of both instances) during each half; Batches the write batches
	// committed (journal entries).
	OneRetries, TwoRetries float64
	OneBatches, TwoBatches float64
	// CatchUp is the time from the end of the load until both instances'
	// totals count every event.
	CatchUp time.Duration
	// Staleness is, per event posted to A alone, the time from its 201 until
	// a report on B counts it.
	Staleness Latencies
	Reports   []MongoReportResult
	// Restart is the time from starting B again, after a kill -9, until
	// GET /readyz answers 200.
	Restart time.Duration
	PeakRSS [2]int64 // bytes, A and B (the higher of B's two processes)
	// Notes are what went wrong without spoiling the figures: an instance
	// that did not stop in time.
	Notes []string
}

// OneRate and TwoRate are the load's events per second with one instance
// and with two.
func (m MongoSizeResult) OneRate() float64 { return rate(m.OneEvents, m.OneTime) }
func (m MongoSizeResult) TwoRate() float64 { return rate(m.TwoEvents, m.TwoTime) }

// MongoReportResult is one standard report's figures on both instances.
type MongoReportResult struct {
	Query Query
	Rows  int // rows on the page
	Total int // total_count
	// A and B are each instance's first answer (equal, or the run fails)
	// and timed runs.
	A, B     InstanceReport
	Baseline Latencies
}

// InstanceReport is one report's figures on one instance.
type InstanceReport struct {
	First   time.Duration // the first answer, building what it is answered from
	Refused int           // 503s and 422s before the first answer
	Tally   Latencies     // the timed runs after the first
}

// Speedup is how many times faster the slower instance's median is than
// the baseline's.
func (r MongoReportResult) Speedup() float64 {
	p50 := max(r.A.Tally.P50, r.B.Tally.P50)
	if p50 <= 0 {
		return 0
	}
	return float64(r.Baseline.P50) / float64(p50)
}

// mongoServer is the database a Mongo run uses and how the table names it.
type mongoServer struct {
	uri         string // without a database
	description string // for the table: no credentials
	ferret      *ferretdb.Server
}

// openMongoServer starts FerretDB for StoreFerretDB, or describes the
// deployment at the URI the user gave.
func openMongoServer(ctx context.Context, store, dir string) (*mongoServer, error) {
	if store == StoreFerretDB {
		log, err := os.Create(filepath.Join(dir, "ferretdb.log"))
		if err != nil {
			return nil, err
		}
		defer log.Close() // the launcher holds its own descriptor
		f, err := ferretdb.Start(ctx, ferretdb.Options{Dir: dir, DataDir: filepath.Join(dir, "ferretdb-data"), Log: log})
		if err != nil {
			return nil, fmt.Errorf("%w (give a mongodb:// URI to use a server of your own)", err)
		}
		return &mongoServer{uri: f.URI, ferret: f,
			description: "FerretDB " + f.Version + " (embedded SQLite backend, no transactions), started by the bench"}, nil
	}
	desc, err := describeDeployment(ctx, store)
	if err != nil {
		return nil, err
	}
	return &mongoServer{uri: store, description: desc}, nil
}

func (m *mongoServer) close() error {
	if m.ferret == nil {
		return nil
	}
	return m.ferret.Stop()
}

// describeDeployment names the server at uri and its kind, from hello and
// buildInfo, and the URI without its credentials.
func describeDeployment(ctx context.Context, uri string) (string, error) {
	c, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }()
	db := c.Database("admin")
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return "", fmt.Errorf("hello: %w", err)
	}
	var build struct {
		Version string `bson:"version"`
		Ferret  string `bson:"ferretdbVersion"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build); err != nil {
		return "", fmt.Errorf("buildInfo: %w", err)
	}
	name := "MongoDB " + build.Version
	if build.Ferret != "" {
		name = "FerretDB " + build.Ferret
	}
	kind := "standalone"
	switch {
	case hello.Msg == "isdbgrid":
		kind = "sharded cluster"
	case hello.SetName != "":
		kind = "replica set " + hello.SetName
	}
	return fmt.Sprintf("%s, %s, at %s", name, kind, RedactURI(uri)), nil
}

// RedactURI returns uri without its user and password and without its
// options (which may hold credentials too).
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "(not a URI)"
	}
	rest, _, _ = strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(hosts, '@'); i >= 0 {
		hosts = hosts[i+1:]
	}
	if path != "" {
		return scheme + "://" + hosts + "/" + path
	}
	return scheme + "://" + hosts
}

// withDatabase returns uri with its database path set to db; hosts and
// options are kept.
func withDatabase(uri, db string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	hosts, query := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts = rest[:i]
		if q := strings.IndexByte(rest[i:], '?'); q >= 0 {
			query = rest[i+q:]
		}
	}
	return scheme + "://" + hosts + "/" + db + query
}

// runMongoSize measures one data set on a fresh database of its own at the
// server, with two instances.
func runMongoSize(ctx context.Context, cfg Config, srv *mongoServer, dir string, n int, logf func(string, ...any)) (mr MongoSizeResult, err error) {
	sdir := filepath.Join(dir, "events-"+strconv.Itoa(n))
	uri := withDatabase(srv.uri, fmt.Sprintf("tallybench_%d_%d", time.Now().Unix(), n))
	dbc, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return mr, err
	}
	db := dbc.Database(dbNameOf(uri))
	defer func() {
		dctx := context.WithoutCancel(ctx)
		if !cfg.Keep {
			err = errors.Join(err, db.Drop(dctx))
		}
		err = errors.Join(err, dbc.Disconnect(dctx))
	}()
	if err := os.Mkdir(sdir, 0o755); err != nil {
		return mr, err
	}

	var a, b *proc.Server
	var bPeak int64
	defer func() {
		// A slow stop is noted, not fatal: on a busy FerretDB an instance
		// can outlast the 30 s it is given (a roll under way runs to its
		// deadline), and the figures measured before it still hold.
		stop := func(name string, srv *proc.Server) {
			if serr := srv.Stop(); serr != nil {
				msg, _, _ := strings.Cut(serr.Error(), ": log ")
				mr.Notes = append(mr.Notes, fmt.Sprintf("instance %s on SIGTERM at the end: %s", name, msg))
				logf("  instance %s: %v", name, serr)
			}
		}
		if a != nil {
			mr.PeakRSS[0] = a.PeakRSS()
			stop("A", a)
		}
		mr.PeakRSS[1] = bPeak
		if b != nil {
			mr.PeakRSS[1] = max(bPeak, b.PeakRSS())
			stop("B", b)
		}
	}()
	// One at a time: both would create the collections and indexes.
	if a, err = proc.Start(ctx, cfg.Binary, uri, "", filepath.Join(sdir, "serve-a.log")); err != nil {
		return mr, fmt.Errorf("instance A: %w", err)
	}
	if b, err = proc.Start(ctx, cfg.Binary, uri, "", filepath.Join(sdir, "serve-b.log")); err != nil {
		return mr, fmt.Errorf("instance B: %w", err)
	}
	urls := []string{a.URL, b.URL}

	g, err := gen.New(gen.Config{Days: cfg.Days, PerDay: n / cfg.Days, Seed: cfg.Seed, Now: cfg.End})
	if err != nil {
		return mr, err
	}
	mr.Events = g.Len()
	if err := loadAlternating(ctx, cfg, urls, g, &mr, logf); err != nil {
		return mr, err
	}

	t0 := time.Now()
	for _, u := range urls {
		if err := waitCount(ctx, u, int64(mr.Events)); err != nil {
			return mr, err
		}
	}
	mr.CatchUp = time.Since(t0)
	logf("  both instances count every event %v after the load", mr.CatchUp.Round(time.Millisecond))

	logf("reports on A and on B: %d runs each, raw-scan baseline up to %d runs or %v each", cfg.ReportRuns, cfg.BaselineRuns, cfg.BaselineTime)
	if mr.Reports, err = measureMongoReports(ctx, urls, db, StandardQueries(g.End()), cfg, logf); err != nil {
		return mr, err
	}

	logf("staleness: %d events posted to A, each timed until B counts it", cfg.StalenessSamples)
	if mr.Staleness, err = measureStaleness(ctx, cfg, a.URL, b.URL, int64(mr.Events)); err != nil {
		return mr, err
	}
	logf("  p50 %v, p99 %v, max %v", mr.Staleness.P50, mr.Staleness.P99, mr.Staleness.Max)
	total := int64(mr.Events + cfg.StalenessSamples)

	logf("restart: kill -9 B (pid %d), start it again", b.Pid())
	bPeak = b.PeakRSS()
	b.Kill()
	b = nil
	t0 = time.Now()
	if b, err = proc.Start(ctx, cfg.Binary, uri, "", filepath.Join(sdir, "serve-b-restarted.log")); err != nil {
		return mr, fmt.Errorf("restart: %w", err)
	}
	if err := b.WaitReady(ctx, proc.StartTimeout); err != nil {
		return mr, fmt.Errorf("restart: %w", err)
	}
	mr.Restart = time.Since(t0)
	if err := waitCount(ctx, b.URL, total); err != nil {
		return mr, fmt.Errorf("restart: %w", err)
	}
	logf("  ready in %v, and counts every event", mr.Restart.Round(time.Millisecond))
	return mr, nil
}

// loadPhases is how many parts the data set is loaded in, alternately
// through A alone and through A and B: a store whose writes slow down as it
// grows (FerretDB) would otherwise favour whichever went first.
const loadPhases = 4

// loadAlternating loads g's events in loadPhases parts, the first through A
// alone, the next through A and B at once, and so on, and sums each mode's
// events, time, batches and retries.
func loadAlternating(ctx context.Context, cfg Config, urls []string, g *gen.Generator, mr *MongoSizeResult, logf func(string, ...any)) error {
	logf("loading %d events in %d parts, through A alone and through A and B in turn, %d posters, batches of %d",
		mr.Events, loadPhases, cfg.Posters, cfg.Batch)
	before, err := storeCounters(ctx, urls)
	if err != nil {
		return err
	}
	sent := 0
	for i := range loadPhases {
		n := mr.Events*(i+1)/loadPhases - sent
		sent += n
		two := i%2 == 1
		to, mode := urls[:1], "A"
		if two {
			to, mode = urls, "A and B"
		}
		d, err := postBatches(ctx, to, g, n, cfg.Batch, cfg.Posters)
		if err != nil {
			return fmt.Errorf("load through %s: %w", mode, err)
		}
		after, err := storeCounters(ctx, urls)
		if err != nil {
			return err
		}
		if two {
			mr.TwoEvents, mr.TwoTime = mr.TwoEvents+n, mr.TwoTime+d
			mr.TwoRetries += after.retries - before.retries
			mr.TwoBatches += after.batches - before.batches
		} else {
			mr.OneEvents, mr.OneTime = mr.OneEvents+n, mr.OneTime+d
			mr.OneRetries += after.retries - before.retries
			mr.OneBatches += after.batches - before.batches
		}
		before = after
		logf("  %d through %s: %.0f events/s", n, mode, rate(n, d))
	}
	logf("  through A: %.0f events/s; through A and B: %.0f events/s; transactions retried %.0f and %.0f",
		mr.OneRate(), mr.TwoRate(), mr.OneRetries, mr.TwoRetries)
	return nil
}

func dbNameOf(uri string) string {
	_, rest, _ := strings.Cut(uri, "://")
	_, path, _ := strings.Cut(rest, "/")
	name, _, _ := strings.Cut(path, "?")
	return name
}

// storeCounters are the sums over the instances of the store metrics the
// load reads.
type counters struct{ retries, batches float64 }

func storeCounters(ctx context.Context, urls []string) (counters, error) {
	var c counters
	for _, u := range urls {
		m, err := scrapeMetrics(ctx, u, "tally_store_commit_retries_total", "tally_store_commit_duration_seconds_count")
		if err != nil {
			return c, err
		}
		c.retries += m["tally_store_commit_retries_total"]
		c.batches += m["tally_store_commit_duration_seconds_count"]
	}
	return c, nil
}

// scrapeMetrics reads the named unlabelled samples from GET /metrics; a
// name the server does not export is left out.
func scrapeMetrics(ctx context.Context, base string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// countQuery is the cheapest report that counts every event: its totals.
var countQuery = client.Query{GroupBy: []tally.Column{tally.ColValid}}

// countOf returns the events the server at c counts.
func countOf(ctx context.Context, c *client.Client) (int64, error) {
	rep, err := c.Report(ctx, &countQuery)
	if err != nil {
		return 0, err
	}
	if rep.Totals == nil {
		return 0, errors.New("report without totals")
	}
	return rep.Totals.Count, nil
}

// catchUpTimeout bounds how long an instance may take to count what the
// others wrote.
const catchUpTimeout = 5 * time.Minute

// waitCount waits until the server at base counts want events.
func waitCount(ctx context.Context, base string, want int64) error {
	c, closeIdle, err := newClient(base, 1)
	if err != nil {
		return err
	}
	defer closeIdle()
	deadline := time.Now().Add(catchUpTimeout)
	for {
		got, err := countOf(ctx, c)
		if err != nil {
			return err
		}
		if got == want {
			return nil
		}
		if got > want || time.Now().After(deadline) {
			return fmt.Errorf("%s counts %d events, want %d", base, got, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stalenessPoll is how often B is asked while a sample waits: the
// resolution of the staleness figures.
const stalenessPoll = 2 * time.Millisecond

// measureStaleness posts fresh events to A one at a time and times each
// from its 201 until B's report counts it. Nothing else writes meanwhile,
// so B's count says exactly whether it has the event.
func measureStaleness(ctx context.Context, cfg Config, aURL, bURL string, count int64) (Latencies, error) {
	ca, closeA, err := newClient(aURL, 1)
	if err != nil {
		return Latencies{}, err
	}
	defer closeA()
	cb, closeB, err := newClient(bURL, 1)
	if err != nil {
		return Latencies{}, err
	}
	defer closeB()
	g, err := gen.New(gen.Config{Days: cfg.Days, PerDay: cfg.StalenessSamples/cfg.Days + 1, Seed: cfg.Seed + stalenessSeed, Now: cfg.End})
	if err != nil {
		return Latencies{}, err
	}
	var lat []time.Duration
	var e tally.Event
	for range cfg.StalenessSamples {
		if !g.Next(&e) {
			return Latencies{}, errors.New("staleness: the generator ran out of events")
		}
		if _, err := ca.CreateEvent(ctx, &e); err != nil {
			return Latencies{}, fmt.Errorf("staleness: %w", err)
		}
		acked := time.Now()
		count++
		for {
			got, err := countOf(ctx, cb)
			if err != nil {
				return Latencies{}, fmt.Errorf("staleness: %w", err)
			}
			if got == count {
				break
			}
			if time.Since(acked) > catchUpTimeout {
				return Latencies{}, fmt.Errorf("staleness: B counts %d events %v after A acknowledged the %dth", got, catchUpTimeout, count)
			}
			select {
			case <-ctx.Done():
				return Latencies{}, ctx.Err()
			case <-time.After(stalenessPoll):
			}
		}
		lat = append(lat, time.Since(acked))
	}
	return Summarize(lat), nil
}

// measureMongoReports gets each standard report's first answer from both
// instances, which must be equal, and from the raw scan, which must equal
// them; then the timed runs on each instance and of the scan.
func measureMongoReports(ctx context.Context, urls []string, db *driver.Database, queries []Query, cfg Config, logf func(string, ...any)) ([]MongoReportResult, error) {
	var cs []*client.Client
	for _, u := range urls {
		c, closeIdle, err := newClient(u, 1)
		if err != nil {
			return nil, err
		}
		defer closeIdle()
		cs = append(cs, c)
	}
	src := mongoEvents(db.Collection("events"))
	var out []MongoReportResult
	for _, q := range queries {
		res := MongoReportResult{Query: q}
		var answers [2]answer
		for i, inst := range []*InstanceReport{&res.A, &res.B} {
			first, rep, refused, err := firstReport(ctx, cs[i], &q)
			if err != nil {
				return nil, fmt.Errorf("instance %c: %w", 'A'+i, err)
			}
			inst.First, inst.Refused = first, refused
			answers[i] = answerOf(&q, rep)
		}
		if ok, why := answers[1].same(answers[0]); !ok {
			return nil, fmt.Errorf("%s: instance B disagrees with A: %s", q.Name, why)
		}
		res.Rows, res.Total = len(answers[0].Rows), answers[0].Total
		for i, inst := range []*InstanceReport{&res.A, &res.B} {
			var timings []time.Duration
			for range cfg.ReportRuns {
				d, _, err := getReport(ctx, cs[i], &q)
				if err != nil {
					return nil, fmt.Errorf("instance %c: %w", 'A'+i, err)
				}
				timings = append(timings, d)
			}
			inst.Tally = Summarize(timings)
		}

		var timings []time.Duration
		start := time.Now()
		for i := range cfg.BaselineRuns {
			if i > 0 && cfg.BaselineTime > 0 && time.Since(start) >= cfg.BaselineTime {
				break
			}
			d, want, err := scanReport(ctx, src, &q)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				if ok, why := answers[0].same(want); !ok {
					return nil, fmt.Errorf("%s: Tally and the raw scan disagree: %s", q.Name, why)
				}
			}
			timings = append(timings, d)
		}
		res.Baseline = Summarize(timings)
		// As each ends: on a slow server one report takes minutes.
		logf("  %s A first %v p50 %v, B first %v p50 %v, raw scan p50 %v of %d runs (%.0f×)", q.Name,
			res.A.First, res.A.Tally.P50, res.B.First, res.B.Tally.P50, res.Baseline.P50, res.Baseline.N, res.Speedup())
		out = append(out, res)
	}
	return out, nil
}

// mongoDoc is the part of a stored event a raw scan reads (mongo/doc.go's
// layout, read here on its own so that the baseline shares no code with
// the store).
type mongoDoc struct {
	DeviceType  *string `bson:"device_type"`
	Category    *int32  `bson:"category"`
	Client      int32   `bson:"client"`
	ClientGroup int32   `bson:"client_group"`
	TS          int64   `bson:"ts"`
	Valid       bool    `bson:"valid"`
	ValueLo     int64   `bson:"value_lo"`
	ValueHi     int64   `bson:"value_hi"`
}

var mongoProjection = bson.D{
	{Key: "_id", Value: 0}, {Key: "device_type", Value: 1}, {Key: "category", Value: 1},
	{Key: "client", Value: 1}, {Key: "client_group", Value: 1}, {Key: "ts", Value: 1},
	{Key: "valid", Value: 1}, {Key: "value_lo", Value: 1}, {Key: "value_hi", Value: 1},
}

// mongoEvents reads the live events of a Tally database (those without a
// deletion mark, del) with one query filtered on ts and the dimensions.
func mongoEvents(events *driver.Collection) rawSource {
	return func(ctx context.Context, q *Query, from, to time.Time, yield func(*rawEvent)) error {
		filter := bson.D{{Key: "del", Value: bson.D{{Key: "$exists", Value: false}}}}
		ts := bson.D{}
		if !from.IsZero() {
			ts = append(ts, bson.E{Key: "$gte", Value: from.UnixMicro()})
		}
		if !to.IsZero() {
			ts = append(ts, bson.E{Key: "$lt", Value: to.UnixMicro()})
		}
		if len(ts) > 0 {
			filter = append(filter, bson.E{Key: "ts", Value: ts})
		}
		if len(q.Clients) > 0 {
			filter = append(filter, bson.E{Key: "client", Value: bson.D{{Key: "$in", Value: q.Clients}}})
		}
		if q.Valid != nil {
			filter = append(filter, bson.E{Key: "valid", Value: *q.Valid})
		}
		cur, err := events.Find(ctx, filter, options.Find().SetProjection(mongoProjection).SetBatchSize(10_000))
		if err != nil {
			return err
		}
		defer cur.Close(context.WithoutCancel(ctx))
		var (
			d mongoDoc
			e rawEvent
		)
		for cur.Next(ctx) {
			d = mongoDoc{}
			if err := cur.Decode(&d); err != nil {
				return err
			}
			dev := tally.DeviceNone
			if d.DeviceType != nil {
				var ok bool
				if dev, ok = tally.ParseDeviceType(*d.DeviceType); !ok {
					return fmt.Errorf("event with device type %q", *d.DeviceType)
				}
			}
			cat := int64(tally.NoCategory)
			if d.Category != nil {
				cat = int64(*d.Category)
			}
			valid := int64(0)
			if d.Valid {
				valid = 1
			}
			e = rawEvent{ts: d.TS, dims: [5]int64{int64(dev), cat, int64(d.Client), int64(d.ClientGroup), valid},
				value: tally.DecimalFromParts(d.ValueHi, d.ValueLo)}
			yield(&e)
		}
		return cur.Err()
	}
}
