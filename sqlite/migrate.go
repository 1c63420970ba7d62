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
	// 1: raw events and the UTC-day rollup.
	//
	// events: a rowid table with a unique index on id measured faster to fill
	// with random UUIDs than a WITHOUT ROWID table keyed by id (the table
	// grows at its end and only the narrow index takes random inserts).
	// ts is Unix microseconds; device_type 0 and category NoCategory stand for
	// null so that grouping and equality need no NULL handling.
	//
	// cells: one row per UTC day (Unix seconds of its midnight) and value of
	// the other dimensions, with the events' count and sum of values.
	`CREATE TABLE events (
		id           BLOB    NOT NULL UNIQUE,
		ts           INTEGER NOT NULL,
		device_type  INTEGER NOT NULL,
		category     INTEGER NOT NULL,
		client       INTEGER NOT NULL,
		client_group INTEGER NOT NULL,
		valid        INTEGER NOT NULL,
		value        REAL    NOT NULL
	);
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
	) WITHOUT ROWID;`,
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
