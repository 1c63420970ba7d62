package mongo

import (
	"strconv"
	"time"

	"github.com/tallyhq/tally"
)

// eventDoc is a raw event as stored in the events collection. Nullable
// dimensions are stored as explicit nulls (never left out) so that
// filtering with {$in: [null]} and grouping treat them alike on MongoDB and
// FerretDB.
type eventDoc struct {
	ID          string  `bson:"_id"` // canonical lower-case UUID, as the API shows it
	DeviceType  *string `bson:"device_type"`
	Category    *int32  `bson:"category"`
	Client      int32   `bson:"client"`
	ClientGroup int32   `bson:"client_group"`
	// Timestamp is for people and tools (a BSON date keeps milliseconds);
	// TS is the exact time in microseconds since the Unix epoch, which Tally
	// reads and filters on.
	Timestamp time.Time `bson:"timestamp"`
	TS        int64     `bson:"ts"`
	// Day is the Unix second of the event's UTC day start: stored so that no
	// pipeline needs a date operator (FerretDB has none).
	Day   int64 `bson:"day"`
	Valid bool  `bson:"valid"`
	// Value is for people and tools: the nearest double. Tally reads the
	// exact value, ValueHi·2^64 + ValueLo millionths (tally.Decimal.Parts;
	// ValueHi is 0, and left out, below 9.2e12). Documents written before
	// schema version 2 have only Value, which held the decimal the client
	// wrote as its nearest double.
	Value   float64 `bson:"value"`
	ValueLo *int64  `bson:"value_lo"`
	ValueHi int64   `bson:"value_hi,omitempty"`
	// J is the journal entry that inserted the event, Del the one that
	// deleted it: an event with Del is a tombstone, out of every read (see
	// journal.go). Events written before schema version 3 have neither.
	J   int64 `bson:"j,omitempty"`
	Del int64 `bson:"del,omitempty"`
}

// value returns the event's exact value.
func (d *eventDoc) value() (tally.Decimal, error) {
	if d.ValueLo == nil {
		v, err := tally.DecimalFromFloat(d.Value)
		if err != nil {
			return tally.Decimal{}, tally.Errorf(tally.EInternal, "stored value %v: %v", d.Value, err)
		}
		return v, nil
	}
	return tally.DecimalFromParts(d.ValueHi, *d.ValueLo), nil
}

func newEventDoc(e *tally.Event) eventDoc {
	us := e.Timestamp.UnixMicro()
	hi, lo := e.Value.Parts()
	return eventDoc{
		ID:          e.ID.String(),
		DeviceType:  deviceField(e.DeviceType),
		Category:    categoryField(e.Category),
		Client:      e.Client,
		ClientGroup: e.ClientGroup,
		Timestamp:   e.Timestamp,
		TS:          us,
		Day:         tally.KeyOf(e, tally.SecondsPerDay).Bucket,
		Valid:       e.Valid,
		Value:       e.Value.Float64(),
		ValueLo:     &lo,
		ValueHi:     hi,
	}
}

func (d *eventDoc) event() (tally.Event, error) {
	id, err := tally.ParseID(d.ID)
	if err != nil {
		return tally.Event{}, tally.Errorf(tally.EInternal, "stored event id %q: %v", d.ID, err)
	}
	dt, err := deviceOf(d.DeviceType)
	if err != nil {
		return tally.Event{}, err
	}
	v, err := d.value()
	if err != nil {
		return tally.Event{}, err
	}
	return tally.Event{
		ID:          id,
		DeviceType:  dt,
		Category:    categoryOf(d.Category),
		Client:      d.Client,
		ClientGroup: d.ClientGroup,
		Timestamp:   time.UnixMicro(d.TS).UTC(),
		Valid:       d.Valid,
		Value:       v,
	}, nil
}

// key returns the event's cell key at the grain of its own second, as the
// aggregator expects for raw events.
func (d *eventDoc) key() (tally.CellKey, error) {
	dt, err := deviceOf(d.DeviceType)
	if err != nil {
		return tally.CellKey{}, err
	}
	sec := d.TS / 1e6
	if d.TS%1e6 < 0 {
		sec-- // floor before 1970
	}
	return tally.CellKey{Bucket: sec, DeviceType: dt, Category: categoryOf(d.Category),
		Client: d.Client, ClientGroup: d.ClientGroup, Valid: d.Valid}, nil
}

// cellDoc is a rollup cell: the count and sum of the events of one UTC day
// that share every other dimension. Its _id is the deterministic cellID, so
// that every upsert is an equality match on _id, the one filter FerretDB
// serves from an index.
type cellDoc struct {
	ID          string  `bson:"_id"`
	Day         int64   `bson:"day"`
	DeviceType  *string `bson:"device_type"`
	Category    *int32  `bson:"category"`
	Client      int32   `bson:"client"`
	ClientGroup int32   `bson:"client_group"`
	Valid       bool    `bson:"valid"`
	Count       int64   `bson:"count"`
	// The sum is SumHi·2^32 + SumLo millionths (tally.Decimal.Limbs): the
	// form in which $inc adds exactly, without carries, on MongoDB and on
	// FerretDB alike. (Decimal128 would be MongoDB's own exact type, but
	// FerretDB 1.x does not support it, and Tally's tests run on FerretDB.)
	SumHi int64 `bson:"sum_hi"`
	SumLo int64 `bson:"sum_lo"`
	// Seq is the last journal entry whose change the cell holds: the
	// roller applies each entry to a cell once, and a view loading the
	// cells replays only the entries after it (see roller.go).
	Seq int64 `bson:"seq"`
}

func (c *cellDoc) sum() tally.Decimal { return tally.DecimalFromLimbs(c.SumHi, c.SumLo) }

// limbs returns d as a cell's sum fields.
func limbs(d tally.Decimal) (hi, lo int64, err error) {
	hi, lo, ok := d.Limbs()
	if !ok {
		return 0, 0, tally.Errorf(tally.EInternal, "a cell's sum %s is out of range", d)
	}
	return hi, lo, nil
}

func (c *cellDoc) key() (tally.CellKey, error) {
	dt, err := deviceOf(c.DeviceType)
	if err != nil {
		return tally.CellKey{}, err
	}
	return tally.CellKey{Bucket: c.Day, DeviceType: dt, Category: categoryOf(c.Category),
		Client: c.Client, ClientGroup: c.ClientGroup, Valid: c.Valid}, nil
}

// cellID is the cell's _id: day, device type, category ("n" for null),
// client, client group and validity, joined by "/". Changing it needs a
// schema version bump.
func cellID(k tally.CellKey) string {
	b := make([]byte, 0, 64)
	b = strconv.AppendInt(b, k.Bucket, 10)
	b = append(b, '/')
	b = append(b, k.DeviceType.String()...)
	b = append(b, '/')
	if k.Category == tally.NoCategory {
		b = append(b, 'n')
	} else {
		b = strconv.AppendInt(b, int64(k.Category), 10)
	}
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(k.Client), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(k.ClientGroup), 10)
	b = append(b, '/')
	b = strconv.AppendBool(b, k.Valid)
	return string(b)
}

func deviceField(d tally.DeviceType) *string {
	if d == tally.DeviceNone {
		return nil
	}
	s := d.String()
	return &s
}

func deviceOf(s *string) (tally.DeviceType, error) {
	if s == nil {
		return tally.DeviceNone, nil
	}
	d, ok := tally.ParseDeviceType(*s)
	if !ok || d == tally.DeviceNone {
		return 0, tally.Errorf(tally.EInternal, "stored device_type %q is not a device type", *s)
	}
	return d, nil
}

func categoryField(c tally.Category) *int32 {
	if c == tally.NoCategory {
		return nil
	}
	v := int32(c)
	return &v
}

func categoryOf(c *int32) tally.Category {
	if c == nil {
		return tally.NoCategory
	}
	return tally.CategoryOf(*c)
}
