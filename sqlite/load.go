package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// load reads what the store keeps in memory: the cube, the Bloom filters
// of the ids, and the writer's state. It takes them from the start-up
// image when the file trusts one (see image.go) and replays what was
// committed after it; otherwise it rebuilds them from the cells table,
// the events above each day's snapshot and the id index, and asks the
// writer for a new image.
func load(ctx context.Context, db *sql.DB, path string, k knobs, logger *slog.Logger) (*cube.Cube, *filters, state, error) {
	st := state{days: make(map[int64]dayState), saved: make(map[int64]bool)}
	m, err := readMeta(ctx, db)
	if err != nil {
		return nil, nil, st, err
	}
	st.fileID = m.fileID
	snaps := make(map[int64]int64)
	var last, maxSnap, from int64 = 0, 0, math.MaxInt64
	err = scanSnapshots(ctx, db, func(day, seq int64) {
		snaps[day] = seq
		from, maxSnap = min(from, seq), max(maxSnap, seq)
	})
	if err != nil {
		return nil, nil, st, fmt.Errorf("sqlite: load snapshots: %w", err)
	}
	if from == math.MaxInt64 {
		from = 0
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return nil, nil, st, fmt.Errorf("sqlite: load: %w", translate(err))
	}
	// A seq at or below a snapshot's must never be given again, even when
	// the event that had it is gone: it would count as part of that snapshot.
	st.nextSeq = max(last, maxSnap) + 1
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(n), 0) + 1 FROM tombstones`).Scan(&st.nextTomb); err != nil {
		return nil, nil, st, fmt.Errorf("sqlite: load: %w", translate(err))
	}
	if m.image != nil {
		// Recording an image prunes the tombstones up to its mark: the
		// numbers must go on above it, or new ones would look pruned.
		st.nextTomb = max(st.nextTomb, m.image.tomb+1)
	}

	f := newFilters(k, m.key)
	lastGroup := (st.nextSeq - 1) >> k.groupShift
	if st.saved, err = loadSavedFilters(ctx, db, f, lastGroup); err != nil {
		return nil, nil, st, fmt.Errorf("sqlite: load filters: %w", err)
	}

	removeTempImages(path)
	img, why := (*image)(nil), errors.New("none recorded")
	if m.image != nil {
		want := imageHeader{version: imageVersion, fileID: m.fileID, keyCheck: f.keyCheck, rec: *m.image, shifts: shiftsOf(k)}
		img, why = readImage(imagePath(path), want, k.slotBudget)
		if img != nil && img.rec.seq > st.nextSeq {
			img, why = nil, fmt.Errorf("%w: seq %d is ahead of the database's %d", errStale, img.rec.seq, st.nextSeq)
		}
	}
	if img != nil {
		c, err := fromImage(ctx, db, img, snaps, k, f, &st)
		return c, f, st, err
	}
	if m.image != nil {
		logger.Warn("sqlite start-up image not used, rebuilding", "reason", why.Error())
		// The record names an image that does not match the file; deletes
		// from now on leave no tombstones until the next image, so it must
		// never be trusted again.
		if _, err := db.ExecContext(ctx, `DELETE FROM meta WHERE name = ?`, metaImage); err != nil {
			return nil, nil, st, fmt.Errorf("sqlite: drop the image record: %w", translate(err))
		}
		_ = os.Remove(imagePath(path))
	}
	st.loaded = "rebuilt: " + why.Error()
	c, err := rebuild(ctx, db, snaps, from, lastGroup, k, f, &st)
	return c, f, st, err
}

// fromImage takes the cube, the days' backlogs and the filters of the
// groups not saved from img, then adds what was committed after it.
func fromImage(ctx context.Context, db *sql.DB, img *image, snaps map[int64]int64, k knobs, f *filters, st *state) (*cube.Cube, error) {
	c := img.cube
	st.events, st.imageSeq = img.events, img.rec.seq
	for d, snap := range snaps {
		ds := dayState{snap: snap}
		// The image's backlog holds when the day's snapshot has not
		// moved since; a snapshot refreshed after it is above the
		// image's seq, so the replay counts the whole backlog.
		if is, ok := img.days[d]; ok && is.snap == snap {
			ds.backlog = is.backlog
		}
		st.days[d] = ds
		st.backlog += ds.backlog
	}
	imaged := (img.rec.seq - 1) >> k.groupShift
	for g, bits := range img.groups {
		if g > imaged || g < 0 {
			continue
		}
		if err := f.group(g).or(bits); err != nil {
			return nil, fmt.Errorf("sqlite: load image filters: %w", err)
		}
	}
	// A group neither saved nor in the image lost its saved row.
	for g := int64(0); g <= imaged; g++ {
		if !st.saved[g] && img.groups[g] == nil {
			if err := loadFilters(ctx, db, f, g); err != nil {
				return nil, fmt.Errorf("sqlite: load ids: %w", err)
			}
		}
	}
	if err := unapplyTombstones(ctx, db, img.rec, c, st); err != nil {
		return nil, fmt.Errorf("sqlite: load tombstones: %w", err)
	}
	if err := replay(ctx, db, img.rec.seq-1, c, st, f); err != nil {
		return nil, fmt.Errorf("sqlite: replay events: %w", err)
	}
	st.loaded = "image"
	return c, nil
}

// rebuild reads the cube from the cells table and the events above each
// day's snapshot (from is the lowest snapshot), and the filters of the
// groups not saved from the id index.
func rebuild(ctx context.Context, db *sql.DB, snaps map[int64]int64, from, lastGroup int64, k knobs, f *filters, st *state) (*cube.Cube, error) {
	for d, snap := range snaps {
		st.days[d] = dayState{snap: snap}
	}
	c, n, err := loadCube(ctx, db, k.slotBudget)
	if err != nil {
		return nil, err
	}
	st.events = n
	if err := replay(ctx, db, from, c, st, nil); err != nil {
		return nil, fmt.Errorf("sqlite: replay events: %w", err)
	}
	for g := int64(0); g <= lastGroup; g++ {
		if !st.saved[g] {
			if err := loadFilters(ctx, db, f, g); err != nil {
				return nil, fmt.Errorf("sqlite: load ids: %w", err)
			}
		}
	}
	if st.events > 0 {
		st.changes = k.imageEvery // an image as soon as the writer starts
	}
	return c, nil
}

// scanSnapshots calls fn with every day's snapshot mark.
func scanSnapshots(ctx context.Context, db querier, fn func(day, seq int64)) error {
	rows, err := db.QueryContext(ctx, `SELECT day, seq FROM snapshots`)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var day, seq int64
		if err := rows.Scan(&day, &seq); err != nil {
			return translate(err)
		}
		fn(day, seq)
	}
	return translate(rows.Err())
}

// replay adds to c the events with seq above from that the cube does not
// hold yet, and counts them in st's backlogs. Loaded from the cells table
// (f nil), the cube holds each day's events up to its snapshot; loaded
// from an image, it holds none above from, and f gets their ids.
func replay(ctx context.Context, db *sql.DB, from int64, c *cube.Cube, st *state, f *filters) error {
	rows, err := db.QueryContext(ctx, `SELECT seq, id, ts, device_type, category, client, client_group, valid, value_lo, value_hi
		FROM events WHERE seq > ?`, from)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var (
		e                    tally.Event
		seq, ts, device, cat int64
		v                    storedValue
		id                   sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &id, &ts, &device, &cat, &e.Client, &e.ClientGroup, &e.Valid, &v.lo, &v.hi); err != nil {
			return translate(err)
		}
		setEvent(&e, ts, device, cat)
		e.Value = v.decimal()
		k := tally.KeyOf(&e, tally.SecondsPerDay)
		ds := st.days[k.Bucket] // a day without a row (a damaged file) counts as snapshot 0
		if f != nil {
			copy(e.ID[:], id)
			f.add(f.hash(e.ID), seq>>f.groupShift)
		} else if seq <= ds.snap {
			continue
		}
		if seq > ds.snap {
			ds.backlog++
			st.days[k.Bucket] = ds
			st.backlog++
		}
		st.events++
		st.replayed++
		// At the slot's grain: the image may hold sub-day rollups.
		c.Add(tally.KeyOf(&e, cube.SlotWidth), 1, e.Value)
	}
	return translate(rows.Err())
}

// unapplyTombstones takes out of c, loaded from the image rec names, the
// events it counts that were deleted after it was taken.
func unapplyTombstones(ctx context.Context, db *sql.DB, rec imageRecord, c *cube.Cube, st *state) error {
	rows, err := db.QueryContext(ctx, `SELECT seq, ts, device_type, category, client, client_group, valid, value_lo, value_hi
		FROM tombstones WHERE n > ? AND seq < ?`, rec.tomb, rec.seq)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var (
		e                    tally.Event
		seq, ts, device, cat int64
		v                    storedValue
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &ts, &device, &cat, &e.Client, &e.ClientGroup, &e.Valid, &v.lo, &v.hi); err != nil {
			return translate(err)
		}
		setEvent(&e, ts, device, cat)
		e.Value = v.decimal()
		k := tally.KeyOf(&e, tally.SecondsPerDay)
		if ds := st.days[k.Bucket]; seq > ds.snap {
			ds.backlog--
			st.days[k.Bucket] = ds
			st.backlog--
		}
		st.events--
		c.Add(tally.KeyOf(&e, cube.SlotWidth), -1, e.Value.Neg())
	}
	return translate(rows.Err())
}

// loadFilters adds the ids stored in group g to its filter, by a scan of
// the group's part of the id index.
func loadFilters(ctx context.Context, db *sql.DB, f *filters, g int64) error {
	first := g << (f.groupShift - f.epochShift)
	rows, err := db.QueryContext(ctx, `SELECT id FROM events INDEXED BY events_epoch_id WHERE epoch >= ? AND epoch < ?`,
		first, first+int64(f.epochsPerGroup()))
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var (
		id  sql.RawBytes
		tid tally.ID
	)
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return translate(err)
		}
		copy(tid[:], id)
		f.add(f.hash(tid), g)
	}
	return translate(rows.Err())
}

// loadCube reads every cell into a new cube, in the table's key order, which
// is the order the cube appends fastest, and returns how many events the
// cells count.
func loadCube(ctx context.Context, db querier, slotBudget int) (*cube.Cube, int64, error) {
	c := cube.NewWithSlotBudget(slotBudget)
	var n int64
	err := scanCells(ctx, db, `SELECT day, device_type, category, client, client_group, valid, count, sum_hi, sum_lo FROM cells`,
		func(k tally.CellKey, t tally.Totals) {
			c.Add(k, t.Count, t.Sum)
			n += t.Count
		})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: load cells: %w", err)
	}
	return c, n, nil
}

// scanCells runs a query whose rows are cells (day, device_type, category,
// client, client_group, valid, count, sum_hi, sum_lo) and calls fn for each.
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
		sum         cellSum
	)
	for rows.Next() {
		if err := rows.Scan(&k.Bucket, &device, &cat, &k.Client, &k.ClientGroup, &k.Valid, &t.Count, &sum.hi, &sum.lo); err != nil {
			return translate(err)
		}
		t.Sum = sum.decimal()
		k.DeviceType, k.Category = tally.DeviceType(device), tally.Category(cat)
		fn(k, t)
	}
	return translate(rows.Err())
}
