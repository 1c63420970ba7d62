package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tallyhq/tally"
)

// migrations are the schema's versions in order: migrations[i] takes a file
// from PRAGMA user_version i to i+1. Append only; never edit a released step.
var migrations = []string{
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
	`CREATE TABLE events (
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
	);`,
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
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
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
