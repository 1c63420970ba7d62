// Package sqlite is the embedded Tally store: one SQLite file holding the raw
// events and, kept in step with them, rollup cells of one UTC day that answer
// most reports without reading the events.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

var _ tally.Store = (*Store)(nil)

// Options tunes a Store. The zero value is the safe default.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "full" (the default) makes
	// every commit survive a power loss; "normal" still survives a crash of
	// the process, which is what the API promises, and commits faster in WAL
	// mode.
	Synchronous string
	// CommitObserver, when set, is told of every write transaction: how many
	// callers shared it (group commit) and how long it took.
	CommitObserver func(callers int, elapsed time.Duration)
	// LockWait is how long Open waits for another process that holds the
	// file to let go of it (a rolling deploy) before it fails; zero fails
	// at once. One process per file is what keeps the in-memory state true.
	LockWait time.Duration
	// Logger receives what Open has to say: waiting for the lock, and what
	// the file held when it opened. Nil logs nothing.
	Logger *slog.Logger

	// SubDayCells bounds the cells of the sub-day rollups that answer
	// reports in other zones and by hour (40 bytes each; see
	// cube.BeginSlots): 0 means cube.DefaultSlotBudget, a negative number
	// turns them off, so that such reports read the raw events.
	SubDayCells int
	// Scans bound the reports answered from raw events (hour buckets,
	// another zone, bounds off UTC midnight); zero fields take the
	// defaults of tally.ScanLimits.
	Scans tally.ScanLimits

	knobs knobs // zero: defaultKnobs()
}

// lookupConns is the size of the pool for Ping and Event: point reads that
// hold a connection for microseconds.
const lookupConns = 2

// writeCacheKiB is the write connection's page cache.
const writeCacheKiB = 32 << 10

// Store is a tally.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	w    *writer
	read *sql.DB // reports over raw events, verify
	// lookup is a small pool of its own for Ping and Event, so that
	// report scans, however many, never leave /readyz and GET /event
	// waiting for a connection.
	lookup *sql.DB
	scans  *tally.ScanGate
	// cube holds every event's contribution to its day cell in memory and
	// answers the reports whose buckets are UTC days: the cells table's
	// snapshots plus the events above them, loaded at Open. This process is
	// the file's only writer, so the cube, fed every commit, stays exact.
	// Repair swaps in a new one.
	cube atomic.Pointer[cube.Cube]

	eventStmt  *sql.Stmt
	lock       *fileLock // released by Close, last
	log        *slog.Logger
	slotBuilds cube.BuildQueue // the sub-day rollup builds (slots.go)
}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. It takes an exclusive lock on the file first (see
// fileLock) and fails when another process holds it past opts.LockWait.
func Open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	start := time.Now()
	sync := strings.ToLower(opts.Synchronous)
	switch sync {
	case "":
		sync = "full"
	case "full", "normal":
	default:
		return nil, tally.Errorf(tally.EInvalid, "sqlite: synchronous must be full or normal, not %q", opts.Synchronous)
	}
	if path == "" || strings.ContainsRune(path, '?') {
		// The driver splits the file name from its parameters at the first '?'.
		return nil, tally.Errorf(tally.EInvalid, "sqlite: bad database path %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: create folder: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lock, err := acquireLock(ctx, path, opts.LockWait, logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.release() // the error being returned says more
		}
	}()

	params := url.Values{}
	params.Set("_busy_timeout", "10000")
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", sync)
	// The write connection takes the write lock when a transaction begins,
	// so that another process writing the file makes it wait (busy_timeout)
	// instead of failing halfway through.
	params.Set("_txlock", "immediate")
	// The writer's page cache must hold a group's dirty pages (the events'
	// tail, the current epoch's id subtree: a few MB for 10k events), or
	// SQLite spills them to the WAL mid-transaction and writes them twice;
	// the default 2 MB measured a third of the write path's CPU in pwrite.
	params.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writeCacheKiB))
	// A multi-row INSERT keeps a statement journal (the old content of every
	// page it changes, to undo the statement alone); past 64 KiB it goes to
	// a temporary file, which measured a third of the write path's CPU in
	// pwrite calls. In memory it costs a copy.
	params.Add("_pragma", "temp_store(memory)")
	wdb, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// SQLite has one writer at a time; one connection makes that explicit and
	// keeps prepared statements on it.
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	k := opts.knobs
	if k == (knobs{}) {
		k = defaultKnobs()
	}
	switch {
	case opts.SubDayCells == 0:
		k.slotBudget = cube.DefaultSlotBudget
	case opts.SubDayCells > 0:
		k.slotBudget = opts.SubDayCells
	}
	c, f, st, err := load(ctx, wdb, path, k, logger)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	s := &Store{lock: lock, log: logger, scans: tally.NewScanGate(opts.Scans)}
	s.cube.Store(c)
	s.w, err = newWriter(ctx, wdb, k, f, st, path, logger)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	s.w.start(func(replace *cube.Cube, ds []cellDelta) {
		if replace != nil {
			s.cube.Store(replace)
		}
		c := s.cube.Load()
		for _, d := range ds {
			c.Add(d.key, d.count, d.sum)
		}
	}, s.cube.Load, opts.CommitObserver)

	params.Del("_txlock")
	params.Del("_pragma")
	params.Set("_query_only", "true")
	rdb, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		s.w.close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	s.read = rdb
	ldb, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	ldb.SetMaxOpenConns(lookupConns)
	ldb.SetMaxIdleConns(lookupConns)
	s.lookup = ldb

	s.eventStmt, err = ldb.PrepareContext(ctx, `SELECT ts, device_type, category, client, client_group, valid, value_lo, value_hi FROM events
		WHERE epoch IN (?`+strings.Repeat(", ?", s.w.filters.epochsPerGroup()-1)+`) AND id = ?`)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", translate(err))
	}
	if err := s.logOpened(ctx, logger, path, st, time.Since(start)); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// logOpened says what the file held when it opened: after a kill -9 with a
// damaged WAL, SQLite silently drops the commits past the damage, and this
// line is how an operator sees what survived. The last stored event (by seq,
// the order of commits) marks the end of what survived; its id can be
// matched against the clients' acknowledged writes. max(ts) would need a scan
// of every event.
func (s *Store) logOpened(ctx context.Context, logger *slog.Logger, path string, st state, took time.Duration) error {
	args := []any{"path", path, "events", st.events, "replayed", st.replayed, "from", st.loaded, "took", took.Round(time.Millisecond)}
	var (
		id  []byte
		ts  int64
		seq int64
	)
	err := s.read.QueryRowContext(ctx, `SELECT seq, id, ts FROM events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &id, &ts)
	switch {
	case err == nil:
		var last tally.ID
		copy(last[:], id)
		args = append(args, "last_seq", seq, "last_event_id", last.String(), "last_event_time", time.UnixMicro(ts).UTC())
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: read the last event: %w", translate(err))
	}
	logger.Info("sqlite store opened", args...)
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Close waits for writes under way, then closes the file.
func (s *Store) Close() error {
	werr := s.w.close()
	var serr error
	if s.eventStmt != nil {
		serr = s.eventStmt.Close()
	}
	rerr := s.read.Close()
	var lerr error
	if s.lookup != nil {
		lerr = s.lookup.Close()
	}
	// Only once the file is closed may another process take it.
	lerr = errors.Join(lerr, s.lock.release())
	if err := errors.Join(werr, serr, rerr, lerr); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that the file can be read, and that the last write did not
// fail for want of disk space: reads still work then, but every write gets
// 503 until one succeeds again, and /readyz should say so.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lookup.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", translate(err))
	}
	if at := s.w.diskFullSince.Load(); at != nil {
		return tally.Errorf(tally.EUnavailable, "disk full: last write failed at %s", at.Format(time.RFC3339))
	}
	return nil
}

// translate maps the driver's errors that mean something to the domain to
// *tally.Error, so that nothing above this package inspects driver errors.
func translate(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_CONSTRAINT:
		// The store checks event ids itself (the id index is not unique) and
		// answers a duplicate with EConflict before SQLite sees it; a
		// constraint SQLite enforces (seq, a cell's or a snapshot's key) is
		// a key the store gave out twice: a bug or a second writer on the
		// file, never the client's fault, so never a 409.
		return fmt.Errorf("%w: %w", tally.Errorf(tally.EInternal, "internal key collision"), err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return tally.Errorf(tally.EUnavailable, "database is busy")
	case sqlite3.SQLITE_FULL:
		// Wrapped, so that the writer can tell a full disk (isDiskFull).
		return fmt.Errorf("%w: %w", tally.Errorf(tally.EUnavailable, "disk is full"), err)
	}
	return err
}

// isDiskFull reports whether err is SQLite's "database or disk is full".
func isDiskFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}
