// Package mongo is Tally's MongoDB store. It also runs on FerretDB, whose
// partial and partly wrong aggregation support shapes what it sends: only
// equality, $in and range filters, no date operators, no $group with more
// than one accumulator. Every aggregate is computed by tally.Aggregator in
// Go from rollup cells (or raw events), so reports are exact on both.
//
// Layout of the database (the URI's path names it, default "tally"):
//   - events: one document per event, _id = the lower-case UUID;
//   - journal: one document per write batch, numbered (journal.go);
//   - cells: one document per (UTC day, device type, category, client,
//     client group, valid) with count and sum, _id = cellID, folded from
//     the journal by one instance at a time (roller.go);
//   - meta: {_id: "schema", version: N}, the journal's counter, leases.
//
// All writes of one process go through one writer goroutine that batches
// concurrent callers (write.go). Every instance answers reports from
// memory (view.go): in whole UTC days from the day cells, in other zones
// and by hour from sub-day rollups built on first use (slots.go).
package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// SchemaVersion is the layout this package reads and writes. Open refuses a
// database marked with a newer one, and migrates an older one.
//
// Version 4 keeps the journal's deltas at 15-minute slots, for the views'
// sub-day rollups, and the deleted events in each entry: a version 3 Tally
// must not write beside a version 4 one (its entries count at the first
// slot of their day). Version 3 adds the journal: writers no longer update
// cells, so a version 2 Tally must not write beside a version 3 one. Version 2 keeps
// values and sums exact (see eventDoc and cellDoc); version 1 kept them as
// doubles.
const SchemaVersion = 4

// DefaultDatabase is used when the URI names no database.
const DefaultDatabase = "tally"

var (
	_ tally.Store   = (*Store)(nil)
	_ tally.Checker = (*Store)(nil)
)

// Store is a tally.Store on a MongoDB (or FerretDB) database.
type Store struct {
	client  *driver.Client
	events  *driver.Collection
	cells   *driver.Collection
	journal *driver.Collection
	meta    *driver.Collection
	txn     bool // the deployment runs multi-document transactions
	streams bool // the deployment has change streams (watch.go)
	wake    chan struct{}
	watched chan struct{} // closed when the journal watcher has ended
	logger  *slog.Logger

	// instance names this Store's lease; leaseUntil (Unix nanoseconds) is
	// when its writes must stop unless the lease is renewed.
	instance   string
	lease      time.Duration
	leaseUntil atomic.Int64
	poll       time.Duration // how often the view reads the journal
	rollEvery  time.Duration
	view       *view
	slotBuilds cube.BuildQueue // the sub-day rollup builds (slots.go)
	// life ends at Close: it bounds the work that outlives requests.
	life    context.Context
	endLife context.CancelFunc

	// failed holds the numbers (int64 → time.Time) of this instance's
	// entries whose write failed midway, to resolve once nothing of them
	// can still be in flight.
	failed   sync.Map
	rollMu   sync.Mutex // one roll pass at a time; guards gaps and lastTrim
	gaps     map[int64]time.Time
	lastTrim time.Time
	bgQuit   chan struct{}
	bgDone   chan struct{}
	// scans bounds the reports read from raw events. The driver's pool is
	// shared by every call; with at most ScanLimits.Max scans holding a
	// connection each (OpenOptions checks maxPoolSize leaves room), Ping
	// and Event always find one.
	scans *tally.ScanGate
	// timeout bounds each call to the deployment (Options.Timeout).
	timeout time.Duration

	reqs      chan *writeReq
	quit      chan struct{} // closed by Close: no new writes
	done      chan struct{} // closed when the writer has finished
	closeOnce sync.Once
	stats     metrics // the writer's (metrics.go)
}

// Options tune a Store; the zero value is the production setting.
type Options struct {
	// NoTransactions disables transactions even on a deployment that has
	// them, so tests on a replica set can exercise the FerretDB code path.
	NoTransactions bool
	// Scans bound the reports answered from raw events (hour buckets,
	// another zone, bounds off UTC midnight); zero fields take the
	// defaults of tally.ScanLimits.
	Scans tally.ScanLimits
	// Timeout bounds every call a request makes to the deployment: each
	// write batch, each point read, each page of a deletion. Zero means
	// DefaultTimeout. A write it cuts short has an unknown outcome, which
	// the error says (EUnavailable): resending with the same ids is safe.
	Timeout time.Duration
	// Lease is how long an instance may go without renewing its lease in
	// the database before the roller takes its unfinished writes for
	// abandoned; zero means DefaultLease.
	Lease time.Duration
	// SubDayCells bounds the cells of the view's sub-day rollups (15-minute
	// slots, built on first use for reports in other zones or by hour; see
	// cube.BeginSlots): 0 means cube.DefaultSlotBudget, a negative number
	// turns them off, and such reports then read raw events.
	SubDayCells int
	// Poll is how often the instance reads the journal for other
	// instances' writes: the bound on how stale its reports are. Zero
	// means DefaultPoll.
	Poll time.Duration
	// Logger receives what the background work cannot return; nil
	// discards.
	Logger *slog.Logger
	// ConnectTimeout bounds Open's first contact with the deployment.
	// Zero means the URI's serverSelectionTimeoutMS when it sets one, else
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultTimeout = 30 * time.Second
	DefaultLease   = 10 * time.Second
	DefaultPoll    = 100 * time.Millisecond
)

// DefaultConnectTimeout is how long Open waits for a first answer when
// neither Options nor the URI say: a server that is down or a wrong host
// fails start-up in seconds, not after the driver's 30 s of server
// selection.
const DefaultConnectTimeout = 5 * time.Second

// Open connects to the deployment at uri (mongodb:// or mongodb+srv://),
// creates the collections' indexes if missing and checks the schema
// version. Pool size, timeouts, write concern and read preference come from
// the URI; Open sets no client-wide timeout because the driver would turn it
// into maxTimeMS, which FerretDB's distinct rejects.
func Open(ctx context.Context, uri string) (*Store, error) {
	return OpenOptions(ctx, uri, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(ctx context.Context, uri string, o Options) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, tally.Errorf(tally.EInvalid, "mongodb uri: %v", err)
	}
	scans := tally.NewScanGate(o.Scans)
	if cs.MaxPoolSizeSet && cs.MaxPoolSize > 0 && cs.MaxPoolSize < uint64(scans.Max())+2 {
		// The writer and the point reads need connections beside the scans.
		return nil, tally.Errorf(tally.EInvalid, "mongodb uri: maxPoolSize=%d leaves no connection beside %d report scans; make it at least %d",
			cs.MaxPoolSize, scans.Max(), scans.Max()+2)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = DefaultDatabase
	}
	client, err := driver.Connect(options.Client().ApplyURI(uri).SetAppName("tally"))
	if err != nil {
		return nil, tally.Errorf(tally.EInvalid, "mongodb uri: %v", err)
	}
	timeout := o.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
		if cs.ServerSelectionTimeoutSet {
			timeout = cs.ServerSelectionTimeout
		}
	}
	if err := firstPing(ctx, client, cs.Hosts, timeout); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	s, err := open(ctx, client, dbName, scans, o)
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// firstPing waits up to timeout for the deployment at hosts to answer. When
// none does, the error is one line naming the hosts (the connection
// string's, which hold no credentials) and the last dial error, instead of
// the driver's description of the whole topology.
func firstPing(ctx context.Context, client *driver.Client, hosts []string, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := client.Ping(pctx, nil)
	var sel topology.ServerSelectionError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("mongo: connect: %w", ctx.Err())
	case !errors.As(err, &sel):
		return unavailable("connect", err)
	}
	msg := fmt.Sprintf("no MongoDB server at %s answered within %s", strings.Join(hosts, ","), timeout)
	for _, srv := range sel.Desc.Servers {
		if srv.LastError == nil {
			continue
		}
		// The dial error names the address; the driver's wrapping of it
		// adds nothing.
		cause := srv.LastError
		if op := (*net.OpError)(nil); errors.As(cause, &op) {
			cause = op
		}
		msg += " (" + strings.Join(strings.Fields(cause.Error()), " ") + ")"
		break
	}
	return fmt.Errorf("mongo: %s: %w", msg, tally.Errorf(tally.EUnavailable, "database unavailable"))
}

func open(ctx context.Context, client *driver.Client, dbName string, scans *tally.ScanGate, o Options) (*Store, error) {
	// Every read Tally sends is part of a write or must see the writes
	// acknowledged before it (GET after 201, the cells and journal an
	// instance loads): the primary, whatever readPreference the URI names.
	db := client.Database(dbName, options.Database().SetReadPreference(readpref.Primary()))
	s := &Store{
		client:   client,
		events:   db.Collection("events"),
		cells:    db.Collection("cells"),
		journal:  db.Collection("journal"),
		meta:     db.Collection("meta"),
		scans:    scans,
		timeout:  cmp.Or(o.Timeout, DefaultTimeout),
		logger:   o.Logger,
		instance: newInstanceID(),
		lease:    cmp.Or(o.Lease, DefaultLease),
		poll:     cmp.Or(o.Poll, DefaultPoll),
		view:     &view{budget: slotBudget(o.SubDayCells)},
		gaps:     make(map[int64]time.Time),
		reqs:     make(chan *writeReq),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		bgQuit:   make(chan struct{}),
		bgDone:   make(chan struct{}),
		wake:     make(chan struct{}, 1),
		watched:  make(chan struct{}),
		stats:    newMetrics(),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.rollEvery = max(s.poll, 500*time.Millisecond)
	replicated, err := replicated(ctx, db)
	if err != nil {
		return nil, err
	}
	s.txn = replicated && !o.NoTransactions
	s.streams = replicated
	version, err := checkSchema(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := createIndexes(ctx, s); err != nil {
		return nil, err
	}
	if err := s.renew(ctx); err != nil {
		return nil, err
	}
	s.view.mu.Lock()
	err = s.view.load(ctx, s)
	s.view.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go s.writer()
	go s.background()
	go s.watchJournal()
	if version < SchemaVersion {
		if err := s.migrate(ctx, db, version); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func slotBudget(n int) int {
	switch {
	case n == 0:
		return cube.DefaultSlotBudget
	case n < 0:
		return 0
	}
	return n
}

func (s *Store) log(what string, err error) {
	s.logger.Warn("mongo: "+what, "err", err)
}

// migrate brings an older database to SchemaVersion. Version 3 needs
// nothing: its entries' day deltas are the cells' grain. Version 2 needs
// nothing: cells without seq hold no journal entry, events without j or
// del are live and precede the journal. Version 1 (values and sums as
// doubles): events need nothing, one without the exact fields is read
// from its double, which holds the decimal its client wrote; cells are
// recomputed from the events by Repair, whose exact sums replace the
// double ones. Other instances must be stopped while it runs (see the
// README): Repair refuses to run beside them.
func (s *Store) migrate(ctx context.Context, db *driver.Database, from int) error {
	if from < 2 {
		if _, err := s.Repair(ctx); err != nil {
			return fmt.Errorf("mongo: migrate to schema version %d: %w", SchemaVersion, err)
		}
	}
	_, err := db.Collection("meta").UpdateOne(ctx, bson.D{{Key: "_id", Value: "schema"}, {Key: "version", Value: bson.D{{Key: "$lt", Value: SchemaVersion}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: SchemaVersion}}}})
	if err != nil {
		return unavailable("set schema version", err)
	}
	return nil
}

// txnOptions are the options of every transaction, whatever the URI says:
// MongoDB refuses a transaction that reads from a secondary, and a batch
// acknowledged to clients must survive a failover (majority write concern),
// having read only majority-committed data.
func txnOptions() *options.TransactionOptionsBuilder {
	return options.Transaction().
		SetReadPreference(readpref.Primary()).
		SetReadConcern(readconcern.Majority()).
		SetWriteConcern(writeconcern.Majority())
}

// replicated reports whether the deployment is a replica set member or a
// mongos, the deployments where MongoDB runs multi-document transactions
// and change streams. FerretDB and a standalone mongod report neither.
func replicated(ctx context.Context, db *driver.Database) (bool, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return false, unavailable("hello", err)
	}
	return hello.SetName != "" || hello.Msg == "isdbgrid", nil
}

// checkSchema marks a new database with SchemaVersion, refuses one that a
// newer Tally has migrated, and returns the version found.
func checkSchema(ctx context.Context, db *driver.Database) (int, error) {
	meta := db.Collection("meta")
	_, err := meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: "schema"}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "version", Value: SchemaVersion}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil && !driver.IsDuplicateKeyError(err) { // two instances starting at once
		return 0, unavailable("schema version", err)
	}
	var doc struct {
		Version int `bson:"version"`
	}
	if err := meta.FindOne(ctx, bson.D{{Key: "_id", Value: "schema"}}).Decode(&doc); err != nil {
		return 0, unavailable("schema version", err)
	}
	if doc.Version > SchemaVersion {
		return 0, tally.Errorf(tally.EUnavailable,
			"database schema version %d is newer than this Tally supports (%d)", doc.Version, SchemaVersion)
	}
	return doc.Version, nil
}

// createIndexes adds the secondary indexes. Creating an existing index with
// the same specification is a no-op, so every start-up may run it. The cell
// key needs no index of its own: it is the _id.
func createIndexes(ctx context.Context, s *Store) error {
	// Day range scans of cells for reports, time range scans of raw events
	// for reports in other zones or at hour grain.
	if _, err := s.cells.Indexes().CreateOne(ctx, driver.IndexModel{
		Keys: bson.D{{Key: "day", Value: 1}}, Options: options.Index().SetName("day"),
	}); err != nil {
		return unavailable("create index cells.day", err)
	}
	if _, err := s.events.Indexes().CreateOne(ctx, driver.IndexModel{
		Keys: bson.D{{Key: "ts", Value: 1}}, Options: options.Index().SetName("ts"),
	}); err != nil {
		return unavailable("create index events.ts", err)
	}
	return nil
}

// bound returns ctx cut at the store's timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Ping reports whether the deployment answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.client.Ping(ctx, nil); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close finishes the writes already submitted, gives up its leases, then
// disconnects.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.done
		close(s.bgQuit)
		<-s.bgDone
		s.endLife()
		s.slotBuilds.Wait()
		<-s.watched
		ctx, cancel := s.bound(context.Background())
		defer cancel()
		s.releaseRoller(ctx)
		// Every entry of this instance is resolved: nothing is left for
		// the roller to take over.
		_, _ = s.meta.DeleteOne(ctx, s.instanceKey())
	})
	<-s.done
	if err := s.client.Disconnect(context.Background()); err != nil && !errors.Is(err, driver.ErrClientDisconnected) {
		return fmt.Errorf("mongo: disconnect: %w", err)
	}
	return nil
}

// unavailable wraps a driver error met while talking to the deployment. The
// chain keeps the cause for logs; the *tally.Error in it carries a code and a
// message fit for clients.
func unavailable(op string, err error) error {
	var te *tally.Error
	if errors.As(err, &te) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("mongo: %s: %w", op, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The store's timeout or the request's deadline: for a write the
		// outcome is unknown, which api's answer to EUnavailable says.
		return fmt.Errorf("mongo: %s: %w: %w", op, err, tally.Errorf(tally.EUnavailable, "the database did not answer in time"))
	}
	e := tally.Errorf(tally.EInternal, "database error")
	if driver.IsNetworkError(err) || driver.IsTimeout(err) || errors.Is(err, driver.ErrClientDisconnected) {
		e = tally.Errorf(tally.EUnavailable, "database unavailable")
	}
	return fmt.Errorf("mongo: %s: %w: %w", op, err, e)
}
