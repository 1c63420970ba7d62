package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"

	"github.com/tallyhq/tally"
)

// A migration takes the schema one version up, inside the migration's
// transaction.
type migration func(ctx context.Context, tx *sql.Tx) error

// execSQL is a migration that is SQL alone.
func execSQL(query string) migration {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query)
		return err
	}
}

// migrations are the schema's versions in order: migrations[i] takes a file
// from PRAGMA user_version i to i+1. Append only; never edit a released step.
var migrations = []migration{
	// 1: raw events, the UTC-day rollup and its per-day snapshot marks.
	//
	// events: seq is assigned by the store's only writer, increasing, so the
	// table grows at its end. Ids are random; a B-tree keyed by them takes
	// one random page write per event once it outgrows the cache, which
	// measured ten times slower than appending. So the id index leads with
	// epoch (seq >> 17): inserts touch only the current epoch's small
	// subtree. The index is not unique: the writer checks ids against
	// in-memory Bloom filters and probes this index only where a filter
	// says maybe. ts is Unix microseconds; device_type 0 and category
	// NoCategory stand for null so that grouping and equality need no NULL
	// handling.
	//
	// cells: one row per UTC day (Unix seconds of its midnight) and value of
	// the other dimensions, with the events' count and sum of values. It is a
	// snapshot per day, not kept current per event (random writes again):
	// snapshots(day, seq) says cells(day) hold exactly the events of that day
	// with seq <= snapshots.seq. The events above it are the durable log
	// that Open replays into the in-memory cube. Every day that has events
	// has a snapshots row, so min(snapshots.seq) bounds that replay.
	execSQL(`CREATE TABLE events (
		seq          INTEGER PRIMARY KEY,
		epoch        INTEGER NOT NULL,
		id           BLOB    NOT NULL,
		ts           INTEGER NOT NULL,
		device_type  INTEGER NOT NULL,
		category     INTEGER NOT NULL,
		client       INTEGER NOT NULL,
		client_group INTEGER NOT NULL,
		valid        INTEGER NOT NULL,
		value        REAL    NOT NULL
	);
	CREATE INDEX events_epoch_id ON events (epoch, id);
	CREATE TABLE cells (
		day          INTEGER NOT NULL,
		device_type  INTEGER NOT NULL,
		category     INTEGER NOT NULL,
		client       INTEGER NOT NULL,
		client_group INTEGER NOT NULL,
		valid        INTEGER NOT NULL,
		count        INTEGER NOT NULL,
		sum          REAL    NOT NULL,
		PRIMARY KEY (day, device_type, category, client, client_group, valid)
	) WITHOUT ROWID;
	CREATE TABLE snapshots (
		day INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL
	);`),
	exactValues,
	startupState,
}

// startupState (version 3) adds what lets Open skip rebuilding its memory
// from every event (see image.go):
//
// meta holds the file's identity and the key of the id hash, both random,
// and the record of the start-up image the file trusts (none until the
// writer makes one).
//
// filters holds the Bloom filter of each complete group of 2^20 seqs: a
// group's bits never change once its seqs are all given out. key_check
// and crc tie the bits to the hash key and to themselves.
//
// tombstones holds the events deleted since the newest image was taken
// whose seq is below that image's: the image counts them, the events
// table no longer has them, so Open takes them out of the image. They are
// pruned once a newer image is recorded.
func startupState(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `
		CREATE TABLE meta (
			name  TEXT PRIMARY KEY,
			value BLOB NOT NULL
		) WITHOUT ROWID;
		CREATE TABLE filters (
			grp       INTEGER PRIMARY KEY,
			key_check INTEGER NOT NULL,
			crc       INTEGER NOT NULL,
			bits      BLOB    NOT NULL
		);
		CREATE TABLE tombstones (
			n            INTEGER PRIMARY KEY,
			seq          INTEGER NOT NULL,
			ts           INTEGER NOT NULL,
			device_type  INTEGER NOT NULL,
			category     INTEGER NOT NULL,
			client       INTEGER NOT NULL,
			client_group INTEGER NOT NULL,
			valid        INTEGER NOT NULL,
			value_lo     INTEGER NOT NULL,
			value_hi     INTEGER NOT NULL
		)`); err != nil {
		return err
	}
	for _, name := range []string{metaHashKey, metaFileID} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)`, name, randomBytes(16)); err != nil {
			return err
		}
	}
	return nil
}

// exactValues (version 2) stores values and sums as exact integers of
// millionths instead of REAL, so that sums do not depend on the order of
// additions (see tally.Decimal).
//
// events.value_lo and value_hi hold the value as value_hi·2^64 + value_lo
// (tally.Decimal.Parts): every value below 9.2e12 has value_hi 0, which
// SQLite stores in no bytes, and value_lo is then its millionths.
//
// cells.sum_hi and sum_lo hold the sum as sum_hi·2^32 + sum_lo
// (tally.Decimal.Limbs), the form in which SQL's integer sum() adds and
// subtracts many values without carries and without overflow: an event's
// limbs are ((value_hi << 32) + (value_lo >> 32), value_lo & 0xffffffff).
//
// The old REAL values were parsed from JSON numbers as float64; rounding
// value·10^6 recovers the decimal written for every value of at most six
// fractional digits below 2^51 millionths, and Go's shortest formatting
// does it beyond. The old cells hold float sums: they are rebuilt from the
// events, exactly, as Repair does, and every day's snapshot then holds all
// its events, so that Open replays nothing. (The SQL is spelled out here
// rather than shared with Repair: a released step must not change.)
func exactValues(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `
		ALTER TABLE events ADD COLUMN value_lo INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE events ADD COLUMN value_hi INTEGER NOT NULL DEFAULT 0;
		UPDATE events SET value_lo = CAST(round(value * 1000000) AS INTEGER) WHERE abs(value) < 2e9`); err != nil {
		return err
	}
	type big struct {
		seq   int64
		value float64
	}
	var rest []big
	rows, err := tx.QueryContext(ctx, `SELECT seq, value FROM events WHERE NOT abs(value) < 2e9`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var b big
		if err := rows.Scan(&b.seq, &b.value); err != nil {
			rows.Close()
			return err
		}
		rest = append(rest, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range rest {
		d, err := tally.DecimalFromFloat(b.value)
		if err != nil {
			return fmt.Errorf("event seq %d: value %v: %w", b.seq, b.value, err)
		}
		hi, lo := d.Parts()
		if _, err := tx.ExecContext(ctx, `UPDATE events SET value_lo = ?, value_hi = ? WHERE seq = ?`, lo, hi, b.seq); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `
		ALTER TABLE events DROP COLUMN value;
		DROP TABLE cells;
		CREATE TABLE cells (
			day          INTEGER NOT NULL,
			device_type  INTEGER NOT NULL,
			category     INTEGER NOT NULL,
			client       INTEGER NOT NULL,
			client_group INTEGER NOT NULL,
			valid        INTEGER NOT NULL,
			count        INTEGER NOT NULL,
			sum_hi       INTEGER NOT NULL,
			sum_lo       INTEGER NOT NULL,
			PRIMARY KEY (day, device_type, category, client, client_group, valid)
		) WITHOUT ROWID;
		INSERT INTO cells (day, device_type, category, client, client_group, valid, count, sum_hi, sum_lo)
			SELECT day, device_type, category, client, client_group, valid, count(*), sum(hi), sum(lo)
			FROM (SELECT (ts / 86400000000 - (ts % 86400000000 < 0)) * 86400 AS day,
				device_type, category, client, client_group, valid,
				(value_hi << 32) + (value_lo >> 32) AS hi, value_lo & 4294967295 AS lo
				FROM events)
			GROUP BY day, device_type, category, client, client_group, valid;
		DELETE FROM snapshots;
		INSERT INTO snapshots (day, seq) SELECT DISTINCT day, (SELECT coalesce(max(seq), 0) FROM events) FROM cells`)
	return err
}

// migrate brings the schema to the newest version in one transaction, so a
// crash leaves the file at its old version or the new one.
func migrate(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: migrate: read version: %w", translate(err))
	}
	if version > len(migrations) {
		return tally.Errorf(tally.EUnavailable, "sqlite: database schema version %d is newer than this program's %d", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if err := migrations[i](ctx, tx); err != nil {
			return fmt.Errorf("sqlite: migrate to version %d: %w", i+1, translate(err))
		}
	}
	if version == len(migrations) {
		_ = tx.Rollback() // nothing was changed
		return nil
	}
	// PRAGMA takes no parameters; the value is an int we formatted.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return fmt.Errorf("sqlite: migrate: set version: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", translate(err))
	}
	return nil
}

// randomBytes returns n bytes from the system's random source, which
// never fails on the systems Go supports.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
