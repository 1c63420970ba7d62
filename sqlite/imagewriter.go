package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// maybeImage writes a start-up image when enough has changed since the
// last and none is being published. The loop calls it between two
// commits, when the cube and the state are exactly the committed ones.
func (w *writer) maybeImage() {
	if w.changes >= w.k.imageEvery && !w.imaging.Load() {
		if err := w.writeImage(nil); err != nil {
			w.log.Warn("sqlite start-up image not written", "err", err)
		}
	}
}

// writeImage writes the image of the committed state to a temporary file,
// in the loop (the writes wait meanwhile: it is a copy of the cells into
// the page cache), and leaves the fsync, the rename and the record to a
// goroutine. done, when set, receives the outcome once it is recorded.
func (w *writer) writeImage(done chan<- error) error {
	w.mu.RLock()
	stopping := w.stopping
	if !stopping {
		w.bg.Add(1)
	}
	w.mu.RUnlock()
	if stopping {
		return fmt.Errorf("sqlite: image: the store is closing")
	}
	w.imaging.Store(true)
	fail := func(err error) error {
		w.imaging.Store(false)
		w.bg.Done()
		return fmt.Errorf("sqlite: image: %w", err)
	}
	final := imagePath(w.path)
	tmp, err := os.CreateTemp(filepath.Dir(final), filepath.Base(final)+"-*.tmp")
	if err != nil {
		return fail(err)
	}
	h := imageHeader{version: imageVersion, fileID: w.fileID, keyCheck: w.filters.keyCheck,
		rec: imageRecord{seq: w.nextSeq, tomb: w.nextTomb - 1}, events: w.events, shifts: shiftsOf(w.k)}
	copy(h.rec.token[:], randomBytes(len(h.rec.token)))
	groups := make(map[int64]*bloom)
	for g := int64(0); g <= (w.nextSeq-1)>>w.k.groupShift; g++ {
		if b := w.filters.get(g); b != nil && !w.saved[g] {
			groups[g] = b
		}
	}
	start := time.Now()
	if err := writeImage(tmp, h, w.days, groups, w.cube()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fail(err)
	}
	// From here on a delete of an event the image counts leaves a
	// tombstone, whether or not the image is recorded in the end.
	w.imageSeq, w.changes = h.rec.seq, 0
	gen, paused := w.imageGen, time.Since(start)
	go func() {
		defer w.bg.Done()
		defer w.imaging.Store(false)
		err := publishImage(tmp, final)
		if err == nil {
			err = w.submit(&writeReq{ctx: context.Background(), kind: reqExclusive, fn: func(t *writeTx) error {
				return t.recordImage(h.rec, gen)
			}})
		}
		if err != nil {
			w.log.Warn("sqlite start-up image not saved", "err", err)
		} else {
			w.log.Debug("sqlite start-up image saved", "seq", h.rec.seq, "events", h.events, "writes_paused", paused,
				"took", time.Since(start))
		}
		if done != nil {
			done <- err
		}
	}()
	return nil
}

// recordImage makes the file trust the image rec names, unless Repair ran
// since it was taken, and drops the tombstones it holds.
func (t *writeTx) recordImage(rec imageRecord, gen int64) error {
	if t.w.imageGen != gen {
		return nil
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, metaImage, rec.bytes()); err != nil {
		return fmt.Errorf("sqlite: record image: %w", translate(err))
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM tombstones WHERE n <= ?`, rec.tomb); err != nil {
		return fmt.Errorf("sqlite: record image: %w", translate(err))
	}
	return nil
}

// saveFilter saves the filter of one complete group (all its seqs given
// out, so its bits are final) that is not saved yet: 3 MiB once per 2^20
// events, so that neither images nor Open ever handle it again.
func (t *writeTx) saveFilter() error {
	f := t.w.filters
	for g := range t.w.nextSeq >> t.w.k.groupShift {
		b := f.get(g)
		if b == nil || t.w.saved[g] {
			continue
		}
		bits := b.bytes()
		_, err := t.tx.ExecContext(t.ctx, `INSERT OR REPLACE INTO filters (grp, key_check, crc, bits) VALUES (?, ?, ?, ?)`,
			g, int64(f.keyCheck), int64(filterCRC(f.keyCheck, g, bits)), bits)
		if err != nil {
			return fmt.Errorf("sqlite: save filter: %w", translate(err))
		}
		t.savedGroup = g
		return nil
	}
	return nil
}
