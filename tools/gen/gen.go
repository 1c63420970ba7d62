// Package gen generates reproducible synthetic events, shaped like the
// traffic the old event-report service was load tested with.
package gen

import (
	"math/rand/v2"
	"time"

	"github.com/tallyhq/tally"
)

// The shape of the generated traffic.
const (
	Clients      = 128 // clients are 1..Clients
	ClientGroups = 16  // client groups are 1..ClientGroups
	Categories   = 32  // categories are 1..Categories, plus null
)

// Config says how many events to generate and from which seed.
type Config struct {
	Days   int       // whole UTC days, the last one ending at 00:00 UTC of Now's day
	PerDay int       // events in each day
	Seed   int64     // the same Config (Now's day included) gives the same events
	Now    time.Time // the generated days end before Now's UTC day
}

// Generator yields the events of a Config, day by day, in a fixed order.
// It is not safe for concurrent use.
type Generator struct {
	rng   *rand.Rand
	start time.Time // 00:00 UTC of the first day
	days  int
	per   int
	n     int // events generated so far
}

// New returns a Generator for cfg. It returns an EInvalid error for negative
// counts and for days outside the timestamps Tally accepts.
func New(cfg Config) (*Generator, error) {
	switch {
	case cfg.Days < 0:
		return nil, tally.FieldErrorf("days", "must be at least 0")
	case cfg.PerDay < 0:
		return nil, tally.FieldErrorf("per_day", "must be at least 0")
	case cfg.Now.IsZero():
		return nil, tally.FieldErrorf("now", "must be set")
	}
	today := cfg.Now.UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -cfg.Days)
	switch {
	case start.Before(tally.MinTime):
		return nil, tally.FieldErrorf("days", "reach back before %s", tally.MinTime.Format(time.RFC3339))
	case today.Add(-time.Millisecond).After(tally.MaxTime): // the last event's millisecond
		return nil, tally.FieldErrorf("now", "leaves days after %s", tally.MaxTime.Format(time.RFC3339Nano))
	}
	// The whole config goes into the PCG state, not the seed alone, so that
	// two runs over different days or sizes do not draw the same ids (which
	// a server would refuse as duplicates).
	shape := uint64(start.Unix())*0x9e37_79b9_7f4a_7c15 ^ uint64(cfg.Days)<<32 ^ uint64(cfg.PerDay)
	src := rand.NewPCG(uint64(cfg.Seed), shape)
	return &Generator{
		rng:   rand.New(src),
		start: start,
		days:  cfg.Days,
		per:   cfg.PerDay,
	}, nil
}

// Len returns the number of events the Generator yields in all.
func (g *Generator) Len() int { return g.days * g.per }

// Start and End bound the generated timestamps to [Start, End).
func (g *Generator) Start() time.Time { return g.start }

// End is 00:00 UTC of the day of Config.Now.
func (g *Generator) End() time.Time { return g.start.AddDate(0, 0, g.days) }

// Next fills e with the next event and reports whether there was one.
func (g *Generator) Next(e *tally.Event) bool {
	if g.n >= g.Len() {
		return false
	}
	day := g.start.Add(time.Duration(g.n/g.per) * 24 * time.Hour)
	g.n++
	r := g.rng

	var id tally.ID
	for i := 0; i < len(id); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant

	client := int32(r.IntN(Clients)) + 1
	// Milliseconds: what the old service's clients sent; some land on a whole
	// second, which exercises the timestamp form without a fraction.
	ms := r.Int64N(int64(24 * time.Hour / time.Millisecond))
	*e = tally.Event{
		ID:          id,
		DeviceType:  deviceType(r.IntN(10)),
		Category:    category(r.IntN(Categories + 1)),
		Client:      client,
		ClientGroup: ClientGroupOf(client),
		Timestamp:   day.Add(time.Duration(ms) * time.Millisecond),
		Valid:       r.IntN(5) != 0,
		Value:       tally.DecimalFromMicros(int64(r.IntN(100_01)) * 10_000), // 0.00 to 100.00
	}
	return true
}

// ClientGroupOf returns the group a generated client always belongs to.
func ClientGroupOf(client int32) int32 {
	// A multiplicative hash rather than client%16, so that a group is not a
	// run of consecutive clients' residues and reports look less regular.
	return int32(uint32(client)*2654435761>>28) + 1
}

// deviceType maps a uniform draw in [0, 10) to the weights desktop 3,
// mobile 4, tablet 2, null 1.
func deviceType(n int) tally.DeviceType {
	switch {
	case n < 3:
		return tally.DeviceDesktop
	case n < 7:
		return tally.DeviceMobile
	case n < 9:
		return tally.DeviceTablet
	default:
		return tally.DeviceNone
	}
}

// category maps a uniform draw in [0, Categories] to a category, null for
// one draw in Categories+1.
func category(n int) tally.Category {
	if n == Categories {
		return tally.NoCategory
	}
	return tally.CategoryOf(int32(n) + 1)
}
