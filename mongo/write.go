package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// Every write of a Store goes through one writer goroutine, which takes the
// requests of all callers waiting at that moment and applies them as one
// batch: raw inserts and deletes, then one $inc upsert per touched cell.
// Reasons:
//   - FerretDB v1.24.2 loses updates when several connections $inc the same
//     document at once (16 goroutines × 1000 increments ended at 54–134),
//     while one sequential writer is exact. On MongoDB $inc is atomic per
//     document, so several Tally processes may share a MongoDB; on FerretDB
//     only one may write.
//   - Batching turns N concurrent events of one cell into one upsert, and N
//     callers into one round trip per collection (group commit).
//
// A caller is answered only after its raw write and its cell changes are
// written. With transactions (replica set, mongos) a batch is one
// transaction. Without them (FerretDB, standalone mongod) a crash or error
// between the raw write and the cell write leaves cells off by the events of
// that batch; Verify detects and Repair fixes that.

// maxBulkOps bounds one bulk write: FerretDB v1.24.2 wedges on a bulk write
// of 100 or more update operations (99 works).
const maxBulkOps = 90

// maxInsertDocs bounds one insertMany, so that a batch's documents travel
// in messages of moderate size on both servers.
const maxInsertDocs = 1000

// maxBatchEvents bounds the events one writer batch gathers from waiting
// callers; a single larger request still goes in one batch.
const maxBatchEvents = 10000

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
// bound to a caller's context, so that a cancelled request cannot leave its
// raw event without its cell change, only to the store's timeout.
func (s *Store) apply(batch []*writeReq) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	var writes []*writeReq
	for _, r := range batch {
		if r.run != nil {
			r.err = r.run(ctx)
			continue
		}
		writes = append(writes, r)
	}
	if len(writes) == 0 {
		return
	}
	batch = writes
	var err error
	if s.txn {
		err = s.applyTxn(ctx, batch)
	} else {
		err = s.applyBatch(ctx, batch, false)
	}
	if err != nil {
		for _, r := range batch {
			r.err = err
		}
	}
}

func (s *Store) applyTxn(ctx context.Context, batch []*writeReq) error {
	sess, err := s.client.StartSession()
	if err != nil {
		return unavailable("start session", err)
	}
	defer sess.EndSession(ctx)
	// WithTransaction retries the whole batch on TransientTransactionError
	// and the commit on UnknownTransactionCommitResult, as the driver's
	// specification prescribes, until ctx's deadline.
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		return nil, s.applyBatch(ctx, batch, true)
	}, txnOptions())
	return err
}

// applyBatch writes the raw events of the batch, then the cell changes they
// imply. In a transaction it may run several times (WithTransaction retries
// transient errors), so it recomputes every outcome from scratch.
func (s *Store) applyBatch(ctx context.Context, batch []*writeReq, inTxn bool) error {
	var (
		docs  []any
		evs   []*tally.Event
		slots []*bool
		seen  = make(map[tally.ID]bool)
	)
	for _, r := range batch {
		r.err = nil
		if r.delete {
			continue
		}
		r.inserted = make([]bool, len(r.events))
		for i := range r.events {
			e := &r.events[i]
			if seen[e.ID] { // repeated in this batch: the first one wins
				continue
			}
			seen[e.ID] = true
			docs = append(docs, newEventDoc(e))
			evs = append(evs, e)
			slots = append(slots, &r.inserted[i])
		}
	}

	var cells cellChanges
	if len(docs) > 0 {
		stored, err := s.insertEvents(ctx, docs, evs, inTxn)
		if err != nil {
			return err
		}
		for i, ok := range stored {
			if ok {
				*slots[i] = true
				cells.add(tally.KeyOf(evs[i], tally.SecondsPerDay), 1, evs[i].Value)
			}
		}
	}

	for _, r := range batch {
		if !r.delete {
			continue
		}
		var d eventDoc
		err := s.events.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: r.id.String()}}).Decode(&d)
		switch {
		case errors.Is(err, driver.ErrNoDocuments):
			r.err = tally.Errorf(tally.ENotFound, "event %s not found", r.id)
			continue
		case err != nil:
			return unavailable("delete event", err)
		}
		e, err := d.event()
		if err != nil {
			return err
		}
		cells.add(tally.KeyOf(&e, tally.SecondsPerDay), -1, e.Value.Neg())
	}

	return s.writeCells(ctx, &cells)
}

// insertEvents inserts docs and reports, for each, whether it was stored
// (false: its _id already existed).
func (s *Store) insertEvents(ctx context.Context, docs []any, evs []*tally.Event, inTxn bool) ([]bool, error) {
	stored := make([]bool, len(docs))
	for i := range stored {
		stored[i] = true
	}
	if inTxn {
		// In a transaction a duplicate key error aborts the transaction, so
		// find the ids already stored first. An id inserted concurrently by
		// another process shows up as a write conflict, and WithTransaction
		// retries the batch, which then finds it here.
		ids := make([]string, len(evs))
		index := make(map[string]int, len(evs))
		for i, e := range evs {
			ids[i] = e.ID.String()
			index[ids[i]] = i
		}
		var kept []any
		existing := make(map[int]bool)
		for start := 0; start < len(ids); start += maxInsertDocs {
			cur, err := s.events.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids[start:min(start+maxInsertDocs, len(ids))]}}}},
				options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				return nil, unavailable("find existing events", err)
			}
			var found []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(ctx, &found); err != nil {
				return nil, unavailable("find existing events", err)
			}
			for _, f := range found {
				existing[index[f.ID]] = true
			}
		}
		for i, d := range docs {
			if existing[i] {
				stored[i] = false
				continue
			}
			kept = append(kept, d)
		}
		for start := 0; start < len(kept); start += maxInsertDocs {
			end := min(start+maxInsertDocs, len(kept))
			if _, err := s.events.InsertMany(ctx, kept[start:end]); err != nil {
				return nil, unavailable("insert events", err)
			}
		}
		return stored, nil
	}

	for start := 0; start < len(docs); start += maxInsertDocs {
		end := min(start+maxInsertDocs, len(docs))
		_, err := s.events.InsertMany(ctx, docs[start:end], options.InsertMany().SetOrdered(false))
		if err == nil {
			continue
		}
		var bwe driver.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return nil, unavailable("insert events", err)
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				return nil, unavailable("insert events", err)
			}
			stored[start+we.Index] = false
		}
	}
	return stored, nil
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

// writeCells applies the changes as $inc upserts filtered on the cell's _id,
// in unordered bulk writes of at most maxBulkOps, then deletes the cells
// that dropped to zero events, so that a cell's float sum restarts at an
// exact zero instead of carrying rounding residue.
func (s *Store) writeCells(ctx context.Context, c *cellChanges) error {
	var models []driver.WriteModel
	var emptied []string
	flush := func() error {
		if len(models) == 0 {
			return nil
		}
		_, err := s.cells.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		models = models[:0]
		if err != nil {
			return unavailable("update cells", err)
		}
		return nil
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
		if ch.count < 0 {
			emptied = append(emptied, id)
		}
		models = append(models, driver.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{
				{Key: "$inc", Value: bson.D{{Key: "count", Value: ch.count}, {Key: "sum_hi", Value: hi}, {Key: "sum_lo", Value: lo}}},
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
		if len(models) == maxBulkOps {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for start := 0; start < len(emptied); start += maxInsertDocs {
		ids := emptied[start:min(start+maxInsertDocs, len(emptied))]
		// The count filter makes this safe against a concurrent increment
		// from another process: the delete is atomic per document. A cell
		// below zero (a delete overtook its insert's increment across two
		// processes) is left alone: the pending increment brings it back.
		_, err := s.cells.DeleteMany(ctx, bson.D{
			{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}},
			{Key: "count", Value: 0},
		})
		if err != nil {
			return unavailable("delete empty cells", err)
		}
	}
	return nil
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
	err := s.events.FindOne(ctx, bson.D{{Key: "_id", Value: id.String()}}).Decode(&d)
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
