// Package sqlite is the embedded Tally store: one SQLite file holding the raw
// events and, kept in step with them, rollup cells of one UTC day that answer
// most reports without reading the events.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	"github.com/tallyhq/tally/cube"
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
}

// Store is a tally.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	w    *writer
	read *sql.DB
	// cube mirrors the cells table in memory and answers the reports whose
	// buckets are UTC days. This process is the file's only writer, so the
	// cube, loaded at Open and fed every commit, stays exact. Repair swaps
	// in a new one.
	cube atomic.Pointer[cube.Cube]

	eventStmt *sql.Stmt
}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
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

	params := url.Values{}
	params.Set("_busy_timeout", "10000")
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", sync)
	// The write connection takes the write lock when a transaction begins,
	// so that another process writing the file makes it wait (busy_timeout)
	// instead of failing halfway through.
	params.Set("_txlock", "immediate")
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
	c, err := loadCube(ctx, wdb)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	s := &Store{}
	s.cube.Store(c)
	s.w, err = newWriter(ctx, wdb, opts.CommitObserver, func(replace *cube.Cube, ds []cellDelta) {
		if replace != nil {
			s.cube.Store(replace)
		}
		c := s.cube.Load()
		for _, d := range ds {
			c.Add(d.key, d.count, d.sum)
		}
	})
	if err != nil {
		wdb.Close()
		return nil, err
	}

	params.Del("_txlock")
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
	s.eventStmt, err = rdb.PrepareContext(ctx, `SELECT ts, device_type, category, client, client_group, valid, value FROM events WHERE id = ?`)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", translate(err))
	}
	return s, nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadCube reads every cell into a new cube, in the table's key order, which
// is the order the cube appends fastest.
func loadCube(ctx context.Context, db querier) (*cube.Cube, error) {
	c := cube.New()
	err := scanCells(ctx, db, `SELECT day, device_type, category, client, client_group, valid, count, sum FROM cells`,
		func(k tally.CellKey, t tally.Totals) { c.Add(k, t.Count, t.Sum) })
	if err != nil {
		return nil, fmt.Errorf("sqlite: load cells: %w", err)
	}
	return c, nil
}

// scanCells runs a query whose rows are cells (day, device_type, category,
// client, client_group, valid, count, sum) and calls fn for each.
func scanCells(ctx context.Context, db querier, query string, fn func(tally.CellKey, tally.Totals)) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var (
		k           tally.CellKey
		device, cat int64
		t           tally.Totals
	)
	for rows.Next() {
		if err := rows.Scan(&k.Bucket, &device, &cat, &k.Client, &k.ClientGroup, &k.Valid, &t.Count, &t.Sum); err != nil {
			return translate(err)
		}
		k.DeviceType, k.Category = tally.DeviceType(device), tally.Category(cat)
		fn(k, t)
	}
	return translate(rows.Err())
}

// Close waits for writes under way, then closes the file.
func (s *Store) Close() error {
	werr := s.w.close()
	var serr error
	if s.eventStmt != nil {
		serr = s.eventStmt.Close()
	}
	rerr := s.read.Close()
	if err := errors.Join(werr, serr, rerr); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", translate(err))
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
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, code == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return tally.Errorf(tally.EConflict, "already exists")
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return tally.Errorf(tally.EUnavailable, "database is busy")
	case code&0xff == sqlite3.SQLITE_FULL:
		return tally.Errorf(tally.EUnavailable, "disk is full")
	}
	return err
}
