package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// Leases. Each instance renews its own lease in meta ("instance/<id>")
// every lease/5 and bounds every write by its lease's end as it knows it,
// so that once the lease has expired (plus leaseMargin for clock skew and
// messages in flight) nothing of its entries can still reach the database:
// the roller may then resolve them from the events. One instance at a time
// holds the roller lease ("roller") and folds resolved entries into the
// cells.

// leaseMargin is how long past another instance's lease the roller waits
// before it takes that instance's open entries for abandoned.
const leaseMargin = 2 * time.Second

// rollBatch bounds the entries folded into the cells at once.
const rollBatch = 500

// journalRetain is how long the roller keeps entries it has folded into the
// cells: a view that falls further behind (an instance paused that long)
// reloads the cells instead.
const journalRetain = 10 * time.Minute

func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type leaseDoc struct {
	ID    string    `bson:"_id"`
	Until time.Time `bson:"until"`
	// The roller's lease also holds its progress: every entry up to
	// Rolled is in the cells; Group, when above Rolled, is the end of the
	// group being folded, which a new roller must finish exactly as
	// chosen, because cells already at Group skip it.
	Owner  string `bson:"owner,omitempty"`
	Rolled int64  `bson:"rolled,omitempty"`
	Group  int64  `bson:"group,omitempty"`
}

func (s *Store) instanceKey() bson.D {
	return bson.D{{Key: "_id", Value: "instance/" + s.instance}}
}

// renew extends this instance's lease; writes stop at its end if the
// database cannot be told.
func (s *Store) renew(ctx context.Context) error {
	start := time.Now()
	until := start.Add(s.lease)
	_, err := s.meta.UpdateOne(ctx, s.instanceKey(), bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: until}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return unavailable("renew lease", err)
	}
	s.leaseUntil.Store(until.UnixNano())
	return nil
}

// leaseEnd is when this instance must stop writing unless it renews.
func (s *Store) leaseEnd() time.Time { return time.Unix(0, s.leaseUntil.Load()) }

// background feeds the view (every poll, and whenever the journal watcher
// says an entry changed) and, while this instance holds the roller
// lease, folds entries into the cells, until Close. The instance's own
// lease is renewed apart (renewer), so that slow background work cannot
// let it lapse.
func (s *Store) background() {
	defer close(s.bgDone)
	// Work under way when Close comes is cancelled, not waited for: a roll
	// cut short is a crashed roll, which the next roller redoes, while
	// waiting kept a stopping server up to a store-call bound (10 s a roll)
	// after it had said it stopped.
	life, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		<-s.bgQuit
		stop()
	}()
	go s.renewer(life)
	warn := func(what string, err error) {
		if life.Err() == nil { // not the cancellation of Close
			s.log(what, err)
		}
	}
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	lastRoll := time.Time{}
	for {
		select {
		case <-s.bgQuit:
			return
		case <-tick.C:
		case <-s.wake:
		}
		ctx, cancel := s.bound(life)
		if err := s.resolveFailed(ctx); err != nil {
			warn("resolve failed writes", err)
		}
		if err := s.view.catchUp(ctx, s); err != nil {
			warn("view catch-up", err)
		}
		if time.Since(lastRoll) >= s.rollEvery {
			if err := s.rollOnce(ctx); err != nil {
				warn("roll", err)
			}
			lastRoll = time.Now()
		}
		cancel()
	}
}

// renewer renews this instance's lease every fifth of it until Close.
func (s *Store) renewer(life context.Context) {
	tick := time.NewTicker(s.lease / 5)
	defer tick.Stop()
	for {
		select {
		case <-s.bgQuit:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(life, s.lease/5)
		if err := s.renew(ctx); err != nil && life.Err() == nil {
			s.log("renew lease", err)
		}
		cancel()
	}
}

// rollOnce takes or renews the roller lease and, if held, resolves
// abandoned entries, folds resolved ones into the cells and trims the
// journal.
func (s *Store) rollOnce(ctx context.Context) error {
	s.rollMu.Lock()
	defer s.rollMu.Unlock()
	l, ok, err := s.takeRoller(ctx)
	if err != nil || !ok {
		return err
	}
	ctx, cancel := context.WithDeadline(ctx, l.Until)
	defer cancel()
	// One read of the journal after Rolled serves every step: on FerretDB
	// each read scans the collection.
	cur, err := s.journal.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: l.Rolled}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "events", Value: 0}}))
	if err != nil {
		return unavailable("read journal", err)
	}
	var entries []entryDoc
	if err := cur.All(ctx, &entries); err != nil {
		return unavailable("read journal", err)
	}
	if err := s.resolveAbandoned(ctx, entries); err != nil {
		return err
	}
	if err := s.voidGaps(ctx, l.Rolled, entries); err != nil {
		return err
	}
	// The resolved entries that follow Rolled without a gap.
	n := 0
	for n < len(entries) && entries[n].Seq == l.Rolled+int64(n)+1 && entries[n].Done {
		n++
	}
	for start := 0; start < n; {
		end := min(start+rollBatch, n)
		if l.Group > l.Rolled {
			// An unfinished group is folded again exactly as chosen.
			end = start + int(l.Group-l.Rolled)
			if end > n {
				return tally.Errorf(tally.EInternal, "journal entries up to %d of an unfinished group are not all resolved", l.Group)
			}
		}
		if err := s.fold(ctx, &l, entries[start:end]); err != nil {
			return err
		}
		start = end
	}
	return s.trim(ctx, l.Rolled)
}

var rollerKey = bson.D{{Key: "_id", Value: "roller"}}

// takeRoller takes the roller lease if it is free or expired, or renews it
// if this instance holds it.
func (s *Store) takeRoller(ctx context.Context) (leaseDoc, bool, error) {
	now := time.Now()
	until := now.Add(s.lease)
	var l leaseDoc
	err := s.meta.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "roller"}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "owner", Value: s.instance}},
		bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: now.Add(-leaseMargin)}}}},
	}}}, bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: s.instance}, {Key: "until", Value: until}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&l)
	switch {
	case err == nil:
	case errors.Is(err, driver.ErrNoDocuments):
		l = leaseDoc{ID: "roller", Owner: s.instance, Until: until}
		if _, err := s.meta.InsertOne(ctx, l); err != nil {
			if driver.IsDuplicateKeyError(err) {
				return l, false, nil // held by another instance
			}
			return l, false, unavailable("take the roller lease", err)
		}
	default:
		return l, false, unavailable("take the roller lease", err)
	}
	// FerretDB does not apply concurrent conditional updates atomically:
	// read back who won.
	var got leaseDoc
	if err := s.meta.FindOne(ctx, rollerKey).Decode(&got); err != nil {
		return l, false, unavailable("read the roller lease", err)
	}
	return got, got.Owner == s.instance, nil
}

// releaseRoller lets another instance (or tally verify) take the roller at
// once.
func (s *Store) releaseRoller(ctx context.Context) {
	_, _ = s.meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: "roller"}, {Key: "owner", Value: s.instance}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: time.Unix(0, 0)}}}})
}

// resolveAbandoned resolves the open entries of instances whose lease has
// expired, and marks them resolved in entries.
func (s *Store) resolveAbandoned(ctx context.Context, entries []entryDoc) error {
	expired := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if e.Done {
			continue
		}
		dead, ok := expired[e.By]
		if !ok {
			var err error
			if dead, err = s.leaseExpired(ctx, e.By); err != nil {
				return err
			}
			expired[e.By] = dead
		}
		if !dead {
			continue
		}
		var full entryDoc
		if err := s.journal.FindOne(ctx, bson.D{{Key: "_id", Value: e.Seq}}).Decode(&full); err != nil {
			return unavailable("read journal entry", err)
		}
		o, err := s.resolveOpen(ctx, &full)
		if err != nil {
			return err
		}
		if o, err = s.record(ctx, e.Seq, o); err != nil {
			return err
		}
		deltas, err := deltaDocs(&o.cells)
		if err != nil {
			return err
		}
		e.Done, e.Inserted, e.Deleted, e.Deltas = true, o.inserted, o.deleted, deltas
		s.logger.Warn("mongo: resolved the journal entry of an instance whose lease expired", "entry", e.Seq, "instance", e.By)
	}
	return nil
}

// resolveFailed resolves this instance's entries whose write failed
// midway (a timeout, a network error): the instance is alive, so no roller
// would take them for abandoned. It waits as long as for a dead instance,
// a lease plus leaseMargin, because a request the client gave up on may
// still be queued at the server. A number whose entry was never written is
// left to the roller, which voids it.
func (s *Store) resolveFailed(ctx context.Context) error {
	var errs []error
	s.failed.Range(func(k, v any) bool {
		seq, at := k.(int64), v.(time.Time)
		if time.Since(at) < s.lease+leaseMargin {
			return true
		}
		var e entryDoc
		err := s.journal.FindOne(ctx, bson.D{{Key: "_id", Value: seq}}).Decode(&e)
		switch {
		case errors.Is(err, driver.ErrNoDocuments) || (err == nil && (e.Done || e.By != s.instance)):
			s.failed.Delete(seq)
			return true
		case err != nil:
			errs = append(errs, unavailable("read journal entry", err))
			return false
		}
		o, err := s.resolveOpen(ctx, &e)
		if err == nil {
			o, err = s.record(ctx, seq, o)
		}
		if err == nil {
			err = s.removeTombstones(ctx, seq, o.gone)
		}
		if err != nil {
			errs = append(errs, err)
			return false
		}
		s.failed.Delete(seq)
		return true
	})
	return errors.Join(errs...)
}

func (s *Store) leaseExpired(ctx context.Context, instance string) (bool, error) {
	if instance == s.instance {
		return false, nil
	}
	var l leaseDoc
	err := s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: "instance/" + instance}}).Decode(&l)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return true, nil // closed: its writer had finished
	case err != nil:
		return false, unavailable("read a lease", err)
	}
	return time.Now().After(l.Until.Add(leaseMargin)), nil
}

// voidGaps voids the numbers after rolled, up to the last handed out, that
// have had no entry for longer than a lease: their writer died between
// taking the number and writing the entry. A writer that was only slow
// finds its number taken and takes another.
func (s *Store) voidGaps(ctx context.Context, rolled int64, entries []entryDoc) error {
	m, err := s.journalMeta(ctx)
	if err != nil || m.Next <= rolled {
		return err
	}
	present := make(map[int64]bool, len(entries))
	for i := range entries {
		present[entries[i].Seq] = true
	}
	now := time.Now()
	for seq := rolled + 1; seq <= m.Next; seq++ {
		if present[seq] {
			delete(s.gaps, seq)
			continue
		}
		first, ok := s.gaps[seq]
		if !ok {
			s.gaps[seq] = now
			continue
		}
		if now.Sub(first) < s.lease+leaseMargin {
			continue
		}
		_, err := s.journal.InsertOne(ctx, entryDoc{Seq: seq, At: now, Void: true, Done: true})
		s.logger.Warn("mongo: voided a journal number taken but never written", "entry", seq)
		if err != nil && !driver.IsDuplicateKeyError(err) {
			return unavailable("void a journal number", err)
		}
		delete(s.gaps, seq)
	}
	for seq := range s.gaps {
		if seq <= rolled {
			delete(s.gaps, seq)
		}
	}
	return nil
}

// fold folds a group of resolved entries, the ones right after l.Rolled,
// into the cells.
func (s *Store) fold(ctx context.Context, l *leaseDoc, entries []entryDoc) error {
	end := entries[len(entries)-1].Seq
	var c cellChanges
	var gone []string
	for i := range entries {
		if err := addDeltas(&c, entries[i].Deltas, true); err != nil {
			return err
		}
		for k, id := range entries[i].Deletes {
			if k < len(entries[i].Deleted) && entries[i].Deleted[k] {
				gone = append(gone, id)
			}
		}
	}
	if l.Group != end {
		if err := s.setRoller(ctx, bson.D{{Key: "group", Value: end}}); err != nil {
			return err
		}
		l.Group = end
	}
	if err := s.writeCells(ctx, end, &c); err != nil {
		return err
	}
	if err := s.removeFolded(ctx, end, gone); err != nil {
		return err
	}
	if err := s.setRoller(ctx, bson.D{{Key: "rolled", Value: end}}); err != nil {
		return err
	}
	l.Rolled = end
	return nil
}

func (s *Store) setRoller(ctx context.Context, set bson.D) error {
	res, err := s.meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: "roller"}, {Key: "owner", Value: s.instance}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return unavailable("record roller progress", err)
	}
	if res.MatchedCount == 0 {
		return tally.Errorf(tally.EUnavailable, "lost the roller lease")
	}
	return nil
}

// writeCells adds the changes of the group ending at seq to the cells: one
// upsert per cell, applied only to a cell that does not hold seq yet, so
// that a group folded again after a crash counts once. A duplicate key
// error means either that the cell already holds seq (the filter missed an
// existing cell) or a concurrent first insert of it: the cells are read
// back and the updates of those not holding seq sent again.
func (s *Store) writeCells(ctx context.Context, seq int64, c *cellChanges) error {
	var ops []driver.WriteModel
	var ids []string
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		err := s.cellBulk(ctx, seq, ops, ids)
		ops, ids = ops[:0], ids[:0]
		return err
	}
	for _, k := range c.keys {
		ch := c.changes[k]
		if ch.count == 0 && ch.sum.IsZero() {
			continue
		}
		hi, lo, err := limbs(ch.sum)
		if err != nil {
			return err
		}
		id := cellID(k)
		ops = append(ops, driver.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: id}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: seq}}}}).
			SetUpdate(bson.D{
				{Key: "$inc", Value: bson.D{{Key: "count", Value: ch.count}, {Key: "sum_hi", Value: hi}, {Key: "sum_lo", Value: lo}}},
				{Key: "$set", Value: bson.D{{Key: "seq", Value: seq}}},
				{Key: "$setOnInsert", Value: bson.D{
					{Key: "day", Value: k.Bucket},
					{Key: "device_type", Value: deviceField(k.DeviceType)},
					{Key: "category", Value: categoryField(k.Category)},
					{Key: "client", Value: k.Client},
					{Key: "client_group", Value: k.ClientGroup},
					{Key: "valid", Value: k.Valid},
				}},
			}).
			SetUpsert(true))
		ids = append(ids, id)
		if len(ops) == maxBulkOps {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (s *Store) cellBulk(ctx context.Context, seq int64, ops []driver.WriteModel, ids []string) error {
	// stalls counts the attempts in a row that folded no cell; each other
	// attempt gets further (on FerretDB, up to the next cell folded before).
	for stalls := 0; len(ops) > 0; {
		_, err := s.cells.BulkWrite(ctx, ops, options.BulkWrite().SetOrdered(false))
		if err == nil {
			return nil
		}
		var bwe driver.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || stalls == 5 {
			return unavailable("update cells", err)
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				return unavailable("update cells", err)
			}
		}
		// Which operations ran cannot be told from the errors: FerretDB
		// v1.24.2 ignores ordered=false on update, stops at the first
		// error and reports it at index 0. Every operation applies only
		// to a cell below seq, so the cells are read back and the
		// operations of those still below it (or absent) sent again.
		done := make(map[string]bool, len(ids))
		err = s.eachCell(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, func(c *cellDoc) error {
			if c.Seq >= seq {
				done[c.ID] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		var retry []driver.WriteModel
		var retryIDs []string
		for i, id := range ids {
			if !done[id] {
				retry = append(retry, ops[i])
				retryIDs = append(retryIDs, id)
			}
		}
		if len(retry) == len(ops) {
			stalls++
		} else {
			stalls = 0
		}
		ops, ids = retry, retryIDs
	}
	return nil
}

// eachCell calls fn for every cell filter selects.
func (s *Store) eachCell(ctx context.Context, filter bson.D, fn func(*cellDoc) error) error {
	return each(ctx, s.cells, filter, nil, "cells", fn)
}

// removeFolded removes the tombstones of the entries now in the cells
// whose inserting entry is folded too (both at most seq). Those deleted
// ids a writer removed already are simply not found.
func (s *Store) removeFolded(ctx context.Context, seq int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for start := 0; start < len(ids); start += maxInsertDocs {
		chunk := ids[start:min(start+maxInsertDocs, len(ids))]
		var stale []string
		err := s.eachEvent(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}, {Key: "del", Value: bson.D{{Key: "$lte", Value: seq}}}},
			func(d *eventDoc) error {
				if d.J <= seq {
					stale = append(stale, d.ID)
				}
				return nil
			})
		if err != nil {
			return err
		}
		if len(stale) == 0 {
			continue
		}
		if _, err := s.events.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: stale}}},
			{Key: "del", Value: bson.D{{Key: "$lte", Value: seq}}}}); err != nil {
			return unavailable("remove deleted events", err)
		}
	}
	return nil
}

// trim removes the folded entries older than journalRetain.
func (s *Store) trim(ctx context.Context, rolled int64) error {
	if time.Since(s.lastTrim) < time.Minute {
		return nil
	}
	s.lastTrim = time.Now()
	var last entryDoc
	err := s.journal.FindOne(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lte", Value: rolled}}},
		{Key: "at", Value: bson.D{{Key: "$lt", Value: time.Now().Add(-journalRetain)}}}},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&last)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return nil
	case err != nil:
		return unavailable("read journal", err)
	}
	// Views older than the mark reload before the entries go.
	if _, err := s.meta.UpdateOne(ctx, journalID, bson.D{{Key: "$max", Value: bson.D{{Key: "trimmed", Value: last.Seq}}}}); err != nil {
		return unavailable("mark journal trim", err)
	}
	if _, err := s.journal.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lte", Value: last.Seq}}}}); err != nil {
		return unavailable("trim journal", err)
	}
	return nil
}

// settle waits until every entry numbered when it was called is folded
// into the cells, by this instance's roller or another's.
func (s *Store) settle(ctx context.Context) (int64, error) {
	m, err := s.journalMeta(ctx)
	if err != nil {
		return 0, err
	}
	for {
		var l leaseDoc
		err := s.meta.FindOne(ctx, rollerKey).Decode(&l)
		if err != nil && !errors.Is(err, driver.ErrNoDocuments) {
			return 0, unavailable("read roller progress", err)
		}
		if l.Rolled >= m.Next {
			return l.Rolled, nil
		}
		if err := s.rollOnce(ctx); err != nil && tally.ErrorCode(err) != tally.EUnavailable {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, unavailable("wait for the journal to be folded", ctx.Err())
		case <-time.After(s.poll):
		}
	}
}

// liveInstances returns the other instances whose lease has not expired.
func (s *Store) liveInstances(ctx context.Context) ([]string, error) {
	cur, err := s.meta.Find(ctx, bson.D{{Key: "until", Value: bson.D{{Key: "$gt", Value: time.Now().Add(-leaseMargin)}}}})
	if err != nil {
		return nil, unavailable("read leases", err)
	}
	var ls []leaseDoc
	if err := cur.All(ctx, &ls); err != nil {
		return nil, unavailable("read leases", err)
	}
	var out []string
	for _, l := range ls {
		if l.ID != "instance/"+s.instance && l.ID != "roller" {
			out = append(out, l.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}
