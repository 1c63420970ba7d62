package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// Every write of a Store goes through one writer goroutine, which takes the
// requests of all callers waiting at that moment and applies them as one
// batch, one journal entry (journal.go): raw inserts and deletes, then the
// entry's resolution. Batching turns N concurrent callers into one round
// trip per collection (group commit). No writer touches the cells: the
// roller folds resolved entries into them, one instance at a time, so hot
// cells cause no write conflicts between instances, and FerretDB, which
// loses concurrent $inc updates of one document, stays exact.
//
// A caller is answered once its entry is resolved, when every instance's
// view can apply it. On the instance that took the write it is applied to
// the view before the answer (read-your-writes).

// maxBulkOps bounds one bulk write: FerretDB v1.24.2 wedges on a bulk write
// of 100 or more update operations (99 works).
const maxBulkOps = 90

// maxInsertDocs bounds one insertMany, so that a batch's documents travel
// in messages of moderate size on both servers.
const maxInsertDocs = 1000

// maxBatchEvents bounds the events one writer batch gathers from waiting
// callers; a single larger request still goes in one batch.
const maxBatchEvents = 10000

// maxEntryEvents bounds the events of one journal entry, which holds them
// all: 5,000 events are ~1.5 MB, well below MongoDB's 16 MB per document.
const maxEntryEvents = 5000

// writeReq is one caller's write: a list of events to insert, or one id to
// delete.
type writeReq struct {
	events   []tally.Event
	delete   bool
	id       tally.ID
	run      func(ctx context.Context) error // maintenance run alone in the writer (Repair)
	inserted []bool                          // per event: stored by this request
	err      error
	done     chan struct{} // closed when the request is answered
}

func (r *writeReq) size() int { return max(1, len(r.events)) }

// submit hands r to the writer and waits for its answer.
func (s *Store) submit(ctx context.Context, r *writeReq) error {
	r.done = make(chan struct{})
	select {
	case s.reqs <- r:
	case <-s.quit:
		return tally.Errorf(tally.EUnavailable, "store is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		// The write goes on; the caller only stops waiting for it, and
		// cannot know whether it will be applied.
		return fmt.Errorf("mongo: waiting for the write: %w: %w", ctx.Err(),
			tally.Errorf(tally.EUnavailable, "the database did not confirm the write in time"))
	}
}

// writer is the Store's single writer goroutine.
func (s *Store) writer() {
	defer close(s.done)
	for {
		var batch []*writeReq
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.quit:
			return
		}
		n := batch[0].size()
	gather:
		for n < maxBatchEvents {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += r.size()
			default:
				break gather
			}
		}
		s.apply(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// apply writes one batch and records each request's outcome. Writes are not
// bound to a caller's context, only to the store's timeout and to this
// instance's lease: the roller resolves the entry of an instance whose lease
// has expired, so nothing of it may reach the database afterwards.
func (s *Store) apply(batch []*writeReq) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	ctx, cancel = context.WithDeadline(ctx, s.leaseEnd())
	defer cancel()
	var writes []*writeReq
	for _, r := range batch {
		if r.run != nil {
			// Maintenance brings its caller's context: it may take long.
			r.err = r.run(context.Background())
			continue
		}
		writes = append(writes, r)
	}
	if len(writes) == 0 {
		return
	}
	start := time.Now()
	err := s.applyWrites(ctx, writes)
	events := 0
	for _, r := range writes {
		events += r.size()
	}
	s.stats.commits.Observe(len(writes), events, time.Since(start))
	if err != nil {
		for _, r := range writes {
			r.err = err
		}
	}
}

// pending is one journal entry's share of a batch: the events it inserts
// (each with the answer slot it fills) and the deletes it makes.
type pending struct {
	docs    []eventDoc
	slots   []*bool
	deletes []*writeReq
}

// applyWrites splits the batch into entries of at most maxEntryEvents
// events and writes them in turn.
func (s *Store) applyWrites(ctx context.Context, batch []*writeReq) error {
	var (
		entries []*pending
		cur     = &pending{}
		seen    = make(map[tally.ID]bool)
	)
	entries = append(entries, cur)
	for _, r := range batch {
		r.err = nil
		if r.delete {
			cur.deletes = append(cur.deletes, r)
			continue
		}
		r.inserted = make([]bool, len(r.events))
		for i := range r.events {
			e := &r.events[i]
			if seen[e.ID] { // repeated in this batch: the first one wins
				continue
			}
			seen[e.ID] = true
			if len(cur.docs) == maxEntryEvents {
				cur = &pending{}
				entries = append(entries, cur)
			}
			cur.docs = append(cur.docs, newEventDoc(e))
			cur.slots = append(cur.slots, &r.inserted[i])
		}
	}
	for _, p := range entries {
		var (
			seq int64
			o   outcome
			err error
		)
		if s.txn {
			seq, o, err = s.writeTxn(ctx, p)
		} else {
			seq, o, err = s.writeEntry(ctx, p)
		}
		if err != nil {
			return err
		}
		for i, ok := range o.inserted {
			*p.slots[i] = ok
		}
		for i, r := range p.deletes {
			if !o.deleted[i] {
				r.err = tally.Errorf(tally.ENotFound, "event %s not found", r.id)
			}
		}
		if err := s.view.applyLocal(seq, &o.cells, o.gone); err != nil {
			return err
		}
		if !s.txn {
			// Best effort: the roller removes what is left.
			_ = s.removeTombstones(ctx, seq, o.gone)
		}
	}
	return nil
}

// writeEntry writes one entry without a transaction: the entry first (the
// batch's intent, with its number in every event), then the events and the
// deletes, then the resolution.
func (s *Store) writeEntry(ctx context.Context, p *pending) (_ int64, _ outcome, err error) {
	var seq int64
	defer func() {
		if err != nil && seq != 0 {
			// Its entry may be written and left open: resolve it later,
			// from what reached the database (see resolveFailed).
			s.failed.Store(seq, time.Now())
		}
	}()
	for attempt := 0; ; attempt++ {
		var err error
		if seq, err = s.nextSeq(ctx); err != nil {
			return 0, outcome{}, err
		}
		e := entryDoc{Seq: seq, At: time.Now(), By: s.instance, Deletes: make([]string, len(p.deletes))}
		for i := range p.docs {
			p.docs[i].J = seq
		}
		e.Events = p.docs
		for i, r := range p.deletes {
			e.Deletes[i] = r.id.String()
		}
		_, err = s.journal.InsertOne(ctx, e)
		if err == nil {
			break
		}
		if !driver.IsDuplicateKeyError(err) {
			return 0, outcome{}, unavailable("write journal entry", err)
		}
		// The number was taken: by this insert, whose first answer was
		// lost and which the driver retried; or handed out twice by a
		// server that loses concurrent updates, or voided by the roller
		// after a stall.
		var got entryDoc
		if err := s.journal.FindOne(ctx, bson.D{{Key: "_id", Value: seq}}).Decode(&got); err != nil {
			return 0, outcome{}, unavailable("read journal entry", err)
		}
		if got.By == s.instance && !got.Done {
			break
		}
		seq = 0
		if attempt == 10 {
			return 0, outcome{}, tally.Errorf(tally.EUnavailable, "could not number a journal entry after %d attempts", attempt+1)
		}
	}

	o := outcome{inserted: make([]bool, len(p.docs)), deleted: make([]bool, len(p.deletes))}
	if err = s.insertEvents(ctx, seq, p.docs, o.inserted); err != nil {
		return 0, o, err
	}
	for i := range p.docs {
		if o.inserted[i] {
			if err := o.addDoc(&p.docs[i]); err != nil {
				return 0, o, err
			}
		}
	}
	if err := s.markDeleted(ctx, seq, p, &o); err != nil {
		return 0, o, err
	}
	o, err = s.record(ctx, seq, o)
	return seq, o, err
}

func (o *outcome) addDoc(d *eventDoc) error {
	k, v, err := d.slotCell()
	if err != nil {
		return err
	}
	o.cells.add(k, 1, v)
	return nil
}

// insertEvents inserts docs and sets inserted[i] for each one stored by
// entry seq: a duplicate key is an id taken before, unless the event
// already carries seq (a write retried after a lost answer).
func (s *Store) insertEvents(ctx context.Context, seq int64, docs []eventDoc, inserted []bool) error {
	var dups []string
	index := make(map[string]int)
	for start := 0; start < len(docs); start += maxInsertDocs {
		end := min(start+maxInsertDocs, len(docs))
		batch := make([]any, end-start)
		for i := range batch {
			batch[i] = docs[start+i]
			inserted[start+i] = true
		}
		_, err := s.events.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		if err == nil {
			continue
		}
		var bwe driver.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return unavailable("insert events", err)
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				return unavailable("insert events", err)
			}
			i := start + we.Index
			inserted[i] = false
			dups = append(dups, docs[i].ID)
			index[docs[i].ID] = i
		}
	}
	if len(dups) == 0 {
		return nil
	}
	return s.eachEvent(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: dups}}}, {Key: "j", Value: seq}}, func(d *eventDoc) error {
		inserted[index[d.ID]] = true
		return nil
	})
}

// markDeleted makes the live events p deletes tombstones of entry seq,
// and records in o those it found. One update and one read for all (on
// FerretDB each scans the collection); a retried write whose first answer
// was lost finds its own marks.
func (s *Store) markDeleted(ctx context.Context, seq int64, p *pending, o *outcome) error {
	if len(p.deletes) == 0 {
		return nil
	}
	ids := make([]string, len(p.deletes))
	index := make(map[string]int, len(ids))
	for i, r := range p.deletes {
		ids[i] = r.id.String()
		index[ids[i]] = i
	}
	_, err := s.events.UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, live},
		bson.D{{Key: "$set", Value: bson.D{{Key: "del", Value: seq}}}})
	if err != nil {
		return unavailable("delete events", err)
	}
	return s.eachEvent(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "del", Value: seq}}, func(d *eventDoc) error {
		o.deleted[index[d.ID]] = true
		return o.takeOut(d)
	})
}

// writeTxn writes one entry in a transaction: the events, the deletes and
// the entry, resolved, commit together or not at all. Taking the entry's
// number writes the counter document, so concurrent batches conflict on it
// and entries commit in number order.
func (s *Store) writeTxn(ctx context.Context, p *pending) (int64, outcome, error) {
	sess, err := s.client.StartSession()
	if err != nil {
		return 0, outcome{}, unavailable("start session", err)
	}
	defer sess.EndSession(ctx)
	var (
		seq  int64
		o    outcome
		runs int
	)
	// WithTransaction retries the whole batch on TransientTransactionError
	// and the commit on UnknownTransactionCommitResult, as the driver's
	// specification prescribes, until ctx's deadline; the callback
	// recomputes everything from scratch each time.
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		runs++
		var err error
		seq, o, err = s.txnBody(ctx, p)
		return nil, err
	}, txnOptions())
	if runs > 1 {
		s.stats.retries.Add(float64(runs - 1))
	}
	return seq, o, err
}

func (s *Store) txnBody(ctx context.Context, p *pending) (int64, outcome, error) {
	seq, err := s.nextSeq(ctx)
	if err != nil {
		return 0, outcome{}, err
	}
	o := outcome{inserted: make([]bool, len(p.docs)), deleted: make([]bool, len(p.deletes))}
	// A duplicate key error aborts a transaction: find the ids already
	// stored first. An id inserted concurrently by another process shows
	// up as a write conflict, and the retried transaction finds it here.
	ids := make([]string, len(p.docs))
	index := make(map[string]int, len(p.docs))
	for i := range p.docs {
		p.docs[i].J = seq
		ids[i] = p.docs[i].ID
		index[ids[i]] = i
		o.inserted[i] = true
	}
	for start := 0; start < len(ids); start += maxInsertDocs {
		err := s.eachEvent(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids[start:min(start+maxInsertDocs, len(ids))]}}}},
			func(d *eventDoc) error {
				o.inserted[index[d.ID]] = false
				return nil
			})
		if err != nil {
			return 0, o, err
		}
	}
	var kept []any
	for i := range p.docs {
		if o.inserted[i] {
			kept = append(kept, p.docs[i])
			if err := o.addDoc(&p.docs[i]); err != nil {
				return 0, o, err
			}
		}
	}
	for start := 0; start < len(kept); start += maxInsertDocs {
		if _, err := s.events.InsertMany(ctx, kept[start:min(start+maxInsertDocs, len(kept))]); err != nil {
			return 0, o, unavailable("insert events", err)
		}
	}
	for i, r := range p.deletes {
		var d eventDoc
		err := s.events.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: r.id.String()}}).Decode(&d)
		switch {
		case errors.Is(err, driver.ErrNoDocuments):
			continue
		case err != nil:
			return 0, o, unavailable("delete event", err)
		}
		o.deleted[i] = true
		if err := o.takeOut(&d); err != nil {
			return 0, o, err
		}
	}
	deltas, err := deltaDocs(&o.cells)
	if err != nil {
		return 0, o, err
	}
	e := entryDoc{Seq: seq, At: time.Now(), By: s.instance, Done: true, Inserted: o.inserted, Deleted: o.deleted, Deltas: deltas, Gone: o.gone}
	if _, err := s.journal.InsertOne(ctx, e); err != nil {
		return 0, o, unavailable("write journal entry", err)
	}
	return seq, o, nil
}

// cellChanges accumulates the net change of each touched cell.
type cellChanges struct {
	keys    []tally.CellKey // in first-touched order, for stable bulk writes
	changes map[tally.CellKey]*cellChange
}

type cellChange struct {
	count int64
	sum   tally.Decimal
}

func (c *cellChanges) add(k tally.CellKey, count int64, sum tally.Decimal) {
	if c.changes == nil {
		c.changes = make(map[tally.CellKey]*cellChange)
	}
	ch, ok := c.changes[k]
	if !ok {
		ch = &cellChange{}
		c.changes[k] = ch
		c.keys = append(c.keys, k)
	}
	ch.count += count
	ch.sum = ch.sum.Add(sum)
}

// CreateEvent stores e, or returns EConflict when its id is taken.
func (s *Store) CreateEvent(ctx context.Context, e tally.Event) error {
	e.Normalize()
	r := &writeReq{events: []tally.Event{e}}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	if !r.inserted[0] {
		return tally.Errorf(tally.EConflict, "event %s already exists", e.ID)
	}
	return nil
}

// CreateEvents stores a batch and reports which events were inserted.
func (s *Store) CreateEvents(ctx context.Context, events []tally.Event) ([]bool, error) {
	if len(events) == 0 {
		return []bool{}, nil
	}
	evs := make([]tally.Event, len(events))
	for i, e := range events {
		e.Normalize()
		evs[i] = e
	}
	r := &writeReq{events: evs}
	if err := s.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.inserted, nil
}

// DeleteEvent removes an event and its contribution to its cell.
func (s *Store) DeleteEvent(ctx context.Context, id tally.ID) error {
	return s.submit(ctx, &writeReq{delete: true, id: id})
}

// Event returns a stored event.
func (s *Store) Event(ctx context.Context, id tally.ID) (tally.Event, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var d eventDoc
	err := s.events.FindOne(ctx, bson.D{{Key: "_id", Value: id.String()}, live}).Decode(&d)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return tally.Event{}, tally.Errorf(tally.ENotFound, "event %s not found", id)
	case err != nil:
		return tally.Event{}, unavailable("find event", err)
	}
	e, err := d.event()
	if err != nil {
		return tally.Event{}, fmt.Errorf("mongo: event %s: %w", id, err)
	}
	return e, nil
}
