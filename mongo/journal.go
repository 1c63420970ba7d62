package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
)

// The journal is the order in which write batches take effect on the
// rollups. Every batch of every instance is one entry, numbered from a
// counter in meta. Its resolution (which of its events were inserted, which
// deletes found their event, and the net change of each cell) is recorded
// in the entry once, by the writer or, for a writer that died, by the
// roller (roller.go) from what the writer left in events. Every instance
// feeds its in-memory cube from the resolved entries (view.go), and the
// roller folds them into the cells in order, so the cells converge after a
// crash without an operator.
//
// Without transactions an entry is the batch's intent: it is inserted
// before the events, which carry its number (j) when it inserted them and
// (del) when it deleted them. A deleted event stays as a tombstone, out of
// every read, until both its entries are resolved, so that the resolution
// of a dead writer's entry can always be recomputed from events. With
// transactions the entry is written resolved, in the batch's transaction.

// entryDoc is one journal entry; _id is its sequence number.
type entryDoc struct {
	Seq int64     `bson:"_id"`
	At  time.Time `bson:"at"`
	// By is the instance that wrote it; the roller resolves an entry left
	// open by an instance whose lease has expired.
	By      string     `bson:"by,omitempty"`
	Events  []eventDoc `bson:"events,omitempty"`
	Deletes []string   `bson:"deletes,omitempty"`
	// Void marks a number the roller gave up waiting for: its writer
	// died between taking it and writing the entry.
	Void     bool       `bson:"void,omitempty"`
	Done     bool       `bson:"done"`
	Inserted []bool     `bson:"inserted,omitempty"`
	Deleted  []bool     `bson:"deleted,omitempty"`
	Deltas   []deltaDoc `bson:"deltas,omitempty"`
	// Gone are the events its deletes took out, as they were stored: a
	// view building a sub-day rollup from a scan of the events needs them
	// to count an event the scan missed because it was removed meanwhile
	// (slots.go).
	Gone []eventDoc `bson:"gone,omitempty"`
}

// deltaDoc is the net change of one cell at the grain of the view's
// sub-day rollups: a 15-minute UTC slot (cube.SlotWidth). The roller sums
// the slots of a day into the day's cell.
type deltaDoc struct {
	Day int64 `bson:"day"`
	// Q is the slot within the day, 0 to 95. Entries written before schema
	// version 4 have none: their changes count at the day's first slot.
	Q           int64   `bson:"q,omitempty"`
	DeviceType  *string `bson:"device_type"`
	Category    *int32  `bson:"category"`
	Client      int32   `bson:"client"`
	ClientGroup int32   `bson:"client_group"`
	Valid       bool    `bson:"valid"`
	Count       int64   `bson:"count"`
	SumHi       int64   `bson:"sum_hi"`
	SumLo       int64   `bson:"sum_lo"`
}

// dayKey is the key of the day cell the delta changes.
func (d *deltaDoc) dayKey() (tally.CellKey, error) {
	c := cellDoc{Day: d.Day, DeviceType: d.DeviceType, Category: d.Category,
		Client: d.Client, ClientGroup: d.ClientGroup, Valid: d.Valid}
	return c.key()
}

// slotKey is the key of the slot cell the delta changes.
func (d *deltaDoc) slotKey() (tally.CellKey, error) {
	k, err := d.dayKey()
	k.Bucket += d.Q * cube.SlotWidth
	return k, err
}

// deltaDocs returns the non-zero changes of c as documents.
func deltaDocs(c *cellChanges) ([]deltaDoc, error) {
	var out []deltaDoc
	for _, k := range c.keys {
		ch := c.changes[k]
		if ch.count == 0 && ch.sum.IsZero() {
			continue
		}
		hi, lo, err := limbs(ch.sum)
		if err != nil {
			return nil, err
		}
		day := tally.FloorTo(k.Bucket, tally.SecondsPerDay)
		out = append(out, deltaDoc{Day: day, Q: (k.Bucket - day) / cube.SlotWidth, DeviceType: deviceField(k.DeviceType), Category: categoryField(k.Category),
			Client: k.Client, ClientGroup: k.ClientGroup, Valid: k.Valid, Count: ch.count, SumHi: hi, SumLo: lo})
	}
	return out, nil
}

// addDeltas adds an entry's deltas to c, by slot, or by day when days is
// set (for the cells).
func addDeltas(c *cellChanges, ds []deltaDoc, days bool) error {
	for i := range ds {
		k, err := ds[i].slotKey()
		if days {
			k, err = ds[i].dayKey()
		}
		if err != nil {
			return err
		}
		c.add(k, ds[i].Count, tally.DecimalFromLimbs(ds[i].SumHi, ds[i].SumLo))
	}
	return nil
}

// journalMeta is meta's "journal" document.
type journalMeta struct {
	Next int64 `bson:"next"` // the last number handed out
	// Trimmed: every entry up to it has been removed (roller.trim); an
	// instance whose view is older reloads.
	Trimmed int64 `bson:"trimmed"`
	// Gen changes when Repair rewrites cells: every view reloads.
	Gen int64 `bson:"gen"`
}

var journalID = bson.D{{Key: "_id", Value: "journal"}}

func (s *Store) journalMeta(ctx context.Context) (journalMeta, error) {
	var m journalMeta
	err := s.meta.FindOne(ctx, journalID).Decode(&m)
	if err != nil && !errors.Is(err, driver.ErrNoDocuments) {
		return m, unavailable("read journal state", err)
	}
	return m, nil
}

// nextSeq hands out the next entry number. In a transaction the counter
// document is written by the transaction, so concurrent batches conflict
// on it and commit in number order. Without one, concurrent writers may
// (on FerretDB, which loses concurrent updates) get the same number: the
// entry's unique _id then refuses the second, which takes another.
func (s *Store) nextSeq(ctx context.Context) (int64, error) {
	for attempt := 0; ; attempt++ {
		var m journalMeta
		err := s.meta.FindOneAndUpdate(ctx, journalID, bson.D{{Key: "$inc", Value: bson.D{{Key: "next", Value: int64(1)}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&m)
		// Two first upserts at once: one inserts, the other fails with a
		// duplicate key and, as MongoDB documents, is retried (and then
		// updates).
		if err != nil && driver.IsDuplicateKeyError(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return 0, unavailable("number a journal entry", err)
		}
		return m.Next, nil
	}
}

// outcome is the resolution of one entry.
type outcome struct {
	inserted []bool
	deleted  []bool
	cells    cellChanges
	// gone are the events its deletes took out, for removing tombstones.
	gone []eventDoc
}

// resolveOpen computes, from the events collection, the resolution of an
// entry whose writer died: an event is its own when it carries the entry's
// number in j, a delete when the event carries it in del. Only the entry's
// writer writes those numbers, and a tombstone stays until its entries are
// resolved, so this finds exactly what the writer did.
func (s *Store) resolveOpen(ctx context.Context, e *entryDoc) (outcome, error) {
	var o outcome
	o.inserted = make([]bool, len(e.Events))
	if len(e.Events) > 0 {
		index := make(map[string]int, len(e.Events))
		ids := make([]string, len(e.Events))
		for i := range e.Events {
			ids[i] = e.Events[i].ID
			index[ids[i]] = i
		}
		err := s.eachEvent(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "j", Value: e.Seq}}, func(d *eventDoc) error {
			i := index[d.ID]
			o.inserted[i] = true
			return o.addDoc(&e.Events[i])
		})
		if err != nil {
			return o, err
		}
	}
	o.deleted = make([]bool, len(e.Deletes))
	if len(e.Deletes) > 0 {
		index := make(map[string]int, len(e.Deletes))
		for i, id := range e.Deletes {
			index[id] = i
		}
		err := s.eachEvent(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: e.Deletes}}}, {Key: "del", Value: e.Seq}}, func(d *eventDoc) error {
			o.deleted[index[d.ID]] = true
			return o.takeOut(d)
		})
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// takeOut records that d was deleted.
func (o *outcome) takeOut(d *eventDoc) error {
	k, v, err := d.slotCell()
	if err != nil {
		return err
	}
	o.cells.add(k, -1, v.Neg())
	o.gone = append(o.gone, *d)
	return nil
}

// eachEvent calls fn for every event filter selects, tombstones included.
func (s *Store) eachEvent(ctx context.Context, filter bson.D, fn func(*eventDoc) error) error {
	return each(ctx, s.events, filter, nil, "events", fn)
}

// each calls fn for every document of coll that filter selects, decoded
// as a T, in batches of readBatch; find, when not nil, adds a sort or a
// projection; what names the collection in errors.
func each[T any](ctx context.Context, coll *driver.Collection, filter bson.D, find *options.FindOptionsBuilder, what string, fn func(*T) error) error {
	if find == nil {
		find = options.Find()
	}
	cur, err := coll.Find(ctx, filter, find.SetBatchSize(readBatch))
	if err != nil {
		return unavailable("read "+what, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		var d T
		if err := cur.Decode(&d); err != nil {
			return unavailable("decode "+what, err)
		}
		if err := fn(&d); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return unavailable("read "+what, err)
	}
	return nil
}

// record writes o as e's resolution unless someone did first, and returns
// the resolution that stands.
func (s *Store) record(ctx context.Context, seq int64, o outcome) (outcome, error) {
	deltas, err := deltaDocs(&o.cells)
	if err != nil {
		return o, err
	}
	// The events go: once resolved, the entry is read by every view at
	// every poll, and only its deltas matter.
	res, err := s.journal.UpdateOne(ctx, bson.D{{Key: "_id", Value: seq}, {Key: "done", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: true}, {Key: "inserted", Value: o.inserted},
			{Key: "deleted", Value: o.deleted}, {Key: "deltas", Value: deltas}, {Key: "gone", Value: o.gone}}},
			{Key: "$unset", Value: bson.D{{Key: "events", Value: ""}}}})
	if err != nil {
		return o, unavailable("resolve journal entry", err)
	}
	if res.MatchedCount == 1 {
		return o, nil
	}
	// The roller took this entry for a dead writer's: its resolution is
	// the one every instance applies, and the one the callers get.
	var e entryDoc
	if err := s.journal.FindOne(ctx, bson.D{{Key: "_id", Value: seq}}).Decode(&e); err != nil {
		return o, unavailable("read journal entry", err)
	}
	if !e.Done {
		return o, tally.Errorf(tally.EInternal, "journal entry %d is neither open nor resolved", seq)
	}
	stood := outcome{inserted: e.Inserted, deleted: e.Deleted, gone: e.Gone}
	if err := addDeltas(&stood.cells, e.Deltas, false); err != nil {
		return o, err
	}
	return stood, nil
}

// removeTombstones deletes the events that entry seq deleted, now that it
// is resolved, when the entry that inserted each is resolved too, as the
// view knows (it applies only resolved entries). Those left wait for the
// roller.
func (s *Store) removeTombstones(ctx context.Context, seq int64, gone []eventDoc) error {
	var ids []string
	for _, d := range gone {
		if d.J == 0 || d.J == seq || s.view.has(d.J) {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.events.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "del", Value: seq}}); err != nil {
		return unavailable("remove deleted events", err)
	}
	return nil
}

// dayCell is the key of the event's UTC-day cell and its value.
func (d *eventDoc) dayCell() (tally.CellKey, tally.Decimal, error) {
	k, err := d.key()
	if err != nil {
		return k, tally.Decimal{}, err
	}
	k.Bucket = d.Day
	v, err := d.value()
	return k, v, err
}

// slotCell is the key of the event's 15-minute slot cell and its value.
func (d *eventDoc) slotCell() (tally.CellKey, tally.Decimal, error) {
	k, err := d.key()
	if err != nil {
		return k, tally.Decimal{}, err
	}
	k.Bucket = tally.FloorTo(k.Bucket, cube.SlotWidth)
	v, err := d.value()
	return k, v, err
}
