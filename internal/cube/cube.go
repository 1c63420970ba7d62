// Package cube holds an in-memory index of rollup cells at UTC-day grain,
// for a store that is the only writer of its data (the embedded SQLite
// store). It answers reports in time that grows with the number of cells a
// query needs, not with the number of events, and it keeps per-day
// projections (cells summed over the dimensions a query does not use) so
// that a report over a few dimensions reads a few cells per day, however
// many full-grain cells there are.
//
// The cube is derived data: the store rebuilds it from its durable rollup
// cells at start and adds every committed change to it.
package cube

import (
	"cmp"
	"slices"
	"sync"

	"github.com/tallyhq/tally"
)

// Cube is safe for concurrent use: Add takes the write lock; reports share
// the read lock and guard each day's lazily built state with its own mutex.
type Cube struct {
	mu   sync.RWMutex
	days map[int32]*day
	// order lists the keys of days in ascending order, for range scans.
	order []int32

	// slots holds the sub-day rollups built so far, by projection; see
	// slots.go. refused lists the projections too large to build.
	slots      map[mask]*slots
	refused    map[mask]bool
	slotBudget int // cells all slots may hold
}

// New returns an empty cube whose sub-day rollups may hold
// DefaultSlotBudget cells.
func New() *Cube { return NewWithSlotBudget(DefaultSlotBudget) }

// NewWithSlotBudget returns an empty cube whose sub-day rollups may hold
// budget cells together (40 bytes each); 0 turns them off.
func NewWithSlotBudget(budget int) *Cube {
	return &Cube{days: make(map[int32]*day), slots: make(map[mask]*slots), refused: make(map[mask]bool),
		slotBudget: budget}
}

// key is a cell's key within its day, packed into 16 bytes. Its field order
// and compare give the contract's ascending order of the five dimensions
// after date: device type, category (null first), client, client group,
// valid.
type key struct {
	category    int32
	client      int32
	clientGroup int32
	flags       uint8 // bits 0-1 device type, bit 2 valid, bit 3 category present
	quarter     uint8 // the slot of the UTC day in sub-day rollups (slots.go); 0 in day cells
}

const (
	flagValid      = 1 << 2
	flagHasCategry = 1 << 3
)

func toKey(k *tally.CellKey) key {
	kk := key{client: k.Client, clientGroup: k.ClientGroup, flags: uint8(k.DeviceType)}
	if k.Valid {
		kk.flags |= flagValid
	}
	if k.Category != tally.NoCategory {
		kk.category = int32(k.Category)
		kk.flags |= flagHasCategry
	}
	return kk
}

func (k key) cellKey(day int32) tally.CellKey {
	ck := tally.CellKey{
		Bucket:      int64(day) * tally.SecondsPerDay,
		DeviceType:  tally.DeviceType(k.flags & 3),
		Category:    tally.NoCategory,
		Client:      k.client,
		ClientGroup: k.clientGroup,
		Valid:       k.flags&flagValid != 0,
	}
	if k.flags&flagHasCategry != 0 {
		ck.Category = tally.Category(k.category)
	}
	return ck
}

func compareKeys(a, b key) int {
	// The slot first: a sub-day rollup's cells then come slot by slot, and
	// the Aggregator maps each slot to its report bucket once. (Day cells
	// all have slot 0.)
	if c := cmp.Compare(a.quarter, b.quarter); c != 0 {
		return c
	}
	if c := cmp.Compare(a.flags&3, b.flags&3); c != 0 {
		return c
	}
	if c := cmp.Compare(a.flags&flagHasCategry, b.flags&flagHasCategry); c != 0 {
		return c
	}
	if c := cmp.Compare(a.category, b.category); c != 0 {
		return c
	}
	if c := cmp.Compare(a.client, b.client); c != 0 {
		return c
	}
	if c := cmp.Compare(a.clientGroup, b.clientGroup); c != 0 {
		return c
	}
	return cmp.Compare(a.flags&flagValid, b.flags&flagValid)
}

// mask selects the dimensions a projection keeps, one bit per dimension
// after date, in Column order.
type mask uint8

const fullMask mask = 1<<5 - 1

func bitOf(c tally.Column) mask { return 1 << (c - tally.ColDeviceType) }

// project zeroes the dimensions m drops.
func (m mask) project(k key) key {
	if m&bitOf(tally.ColDeviceType) == 0 {
		k.flags &^= 3
	}
	if m&bitOf(tally.ColCategory) == 0 {
		k.category = 0
		k.flags &^= flagHasCategry
	}
	if m&bitOf(tally.ColClient) == 0 {
		k.client = 0
	}
	if m&bitOf(tally.ColClientGroup) == 0 {
		k.clientGroup = 0
	}
	if m&bitOf(tally.ColValid) == 0 {
		k.flags &^= flagValid
	}
	return k
}

// agg is a cell's count and exact sum. With the key, a cell takes 40 bytes.
type agg struct {
	count int64
	sum   tally.Decimal
}

func (a *agg) add(b agg) {
	a.count += b.count
	a.sum = a.sum.Add(b.sum)
}

type cell struct {
	key key
	agg
}

// day holds one UTC day's cells: a sorted base array that updates in place,
// and a map of cells first seen since the last merge, so that a new cell
// costs a map insert instead of shifting the array. Arrays of plain structs
// keep the garbage collector's work and the memory per cell small.
type day struct {
	base  []cell // sorted by key; may hold cells whose count fell to 0
	extra map[key]agg
	live  int // cells with a non-zero count
	total agg

	mu    sync.Mutex // guards merges and proj during reports
	proj  map[mask]map[key]agg
	dirty bool // extra is non-empty
}

// Add adds count events with the given sum to the cell k of the UTC day that
// k.Bucket (Unix seconds, not before 1970) falls in. A negative count takes
// events back out. Changes made after sub-day rollups exist must carry the
// events' slot start (tally.KeyOf with SlotWidth) or finer, so that the
// slots get them right.
func (c *Cube) Add(k tally.CellKey, count int64, sum tally.Decimal) {
	dn := int32(k.Bucket / tally.SecondsPerDay)
	kk := toKey(&k)
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.days[dn]
	if d == nil {
		d = &day{extra: make(map[key]agg)}
		c.days[dn] = d
		i, _ := slices.BinarySearch(c.order, dn)
		c.order = slices.Insert(c.order, i, dn)
	}
	d.add(kk, agg{count, sum})
	for m, s := range c.slots {
		s.add(m, k, agg{count, sum})
	}
}

func (d *day) add(k key, delta agg) {
	var old, now agg
	if n := len(d.base); len(d.extra) == 0 && (n == 0 || compareKeys(d.base[n-1].key, k) < 0) {
		// A key past the end, as when loading cells in key order: append.
		if delta.count != 0 {
			d.base = append(d.base, cell{k, delta})
			now = delta
		}
	} else if i, ok := slices.BinarySearchFunc(d.base, k, func(c cell, k key) int { return compareKeys(c.key, k) }); ok {
		old = d.base[i].agg
		d.base[i].add(delta)
		now = d.base[i].agg
	} else {
		old = d.extra[k]
		now = old
		now.add(delta)
		if now.count == 0 {
			delete(d.extra, k)
		} else {
			d.extra[k] = now
			d.dirty = true
		}
	}
	switch {
	case old.count == 0 && now.count != 0:
		d.live++
	case old.count != 0 && now.count == 0:
		d.live--
	}
	d.total.add(delta)
	for m, p := range d.proj {
		pk := m.project(k)
		a := p[pk]
		a.add(delta)
		if a.count == 0 {
			delete(p, pk)
		} else {
			p[pk] = a
		}
	}
	if len(d.extra) > len(d.base)/8+256 {
		d.merge()
	}
}

// merge folds extra into base and drops empty cells. Callers hold the cube's
// write lock or d.mu.
func (d *day) merge() {
	if !d.dirty && len(d.base) == d.live {
		return
	}
	added := make([]cell, 0, len(d.extra))
	for k, a := range d.extra {
		added = append(added, cell{k, a})
	}
	slices.SortFunc(added, func(a, b cell) int { return compareKeys(a.key, b.key) })
	merged := make([]cell, 0, d.live)
	i, j := 0, 0
	for i < len(d.base) || j < len(added) {
		var next cell
		if j == len(added) || (i < len(d.base) && compareKeys(d.base[i].key, added[j].key) < 0) {
			next = d.base[i]
			i++
		} else {
			next = added[j]
			j++
		}
		if next.count != 0 {
			merged = append(merged, next)
		}
	}
	d.base = merged
	// A new map rather than clear: a cleared map keeps its peak size, which
	// across 90 days of heavy ingest held ~16 MiB of empty buckets.
	d.extra = make(map[key]agg)
	d.dirty = false
}

// each calls fn for every non-empty cell of the day, in no set order.
func (d *day) each(fn func(key, agg)) {
	for i := range d.base {
		if d.base[i].count != 0 {
			fn(d.base[i].key, d.base[i].agg)
		}
	}
	for k, a := range d.extra {
		fn(k, a)
	}
}

// projection returns the day's cells summed over the dimensions outside m.
// It is cached, and kept current by add, when it is much smaller than the
// day itself; otherwise building it again is as cheap as keeping it.
func (d *day) projection(m mask) map[key]agg {
	if p, ok := d.proj[m]; ok {
		return p
	}
	p := make(map[key]agg)
	d.each(func(k key, a agg) {
		pk := m.project(k)
		s := p[pk]
		s.add(a)
		p[pk] = s
	})
	if len(p) <= d.live/4 {
		if d.proj == nil {
			d.proj = make(map[mask]map[key]agg)
		}
		d.proj[m] = p
	}
	return p
}

// Cells calls fn for every non-empty cell, for checks against the durable
// rollups.
func (c *Cube) Cells(fn func(k tally.CellKey, count int64, sum tally.Decimal)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, dn := range c.order {
		c.days[dn].each(func(k key, a agg) { fn(k.cellKey(dn), a.count, a.sum) })
	}
}

// DayCells calls fn for every non-empty cell of the UTC day starting at
// dayStart (Unix seconds), in the contract's key order, so that a store can
// write the day's rollup back to disk as one sorted run.
func (c *Cube) DayCells(dayStart int64, fn func(k tally.CellKey, count int64, sum tally.Decimal)) {
	dn := int32(dayStart / tally.SecondsPerDay)
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := c.days[dn]
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.merge()
	for i := range d.base {
		if d.base[i].count != 0 {
			fn(d.base[i].key.cellKey(dn), d.base[i].count, d.base[i].sum)
		}
	}
}
