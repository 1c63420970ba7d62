package cube

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/tallyhq/tally"
)

// An image is the cube's day cells and its built sub-day rollups in a flat
// binary form that loads by copying: the number of days, then per day in
// ascending order the day number, the count of its cells and the cells in
// key order, cellBytes each; then the number of sub-day rollups, and per
// rollup its projection and its days in the same form (cells with their
// slot). A store that persists it skips rebuilding the cube from its rollup
// rows at start, and the rollups' first reports after a restart need no
// scan of the events.
const cellBytes = 4 + 4 + 4 + 1 + 1 + 8 + 16

// imageDayLimit bounds the cells one day of an image may claim, so that a
// damaged count fails instead of allocating: 2^24 cells (640 MiB) is far
// above any real day (the generator's data has 33,792 combinations).
const imageDayLimit = 1 << 24

// ErrBadImage is returned by ReadImage for an image that is not one:
// keys out of order, impossible fields, counts past the limits.
var ErrBadImage = errors.New("cube: bad image")

// WriteImage writes every non-empty day cell and every built sub-day rollup
// to w. It holds the read lock throughout: the caller makes sure no change
// is being added (the image must be one committed state), and reports carry
// on meanwhile. Each day's base and new cells are merged as they are
// written, not by d.merge, which would allocate the whole cube again on
// every image. A rollup still being built is left out: its first report
// after a restart builds it again.
func (c *Cube) WriteImage(w io.Writer) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var buf []byte
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(c.order)))
	for _, dn := range c.order {
		if err := c.days[dn].writeImage(w, dn, &buf); err != nil {
			return err
		}
	}
	var ready []mask
	for m, s := range c.slots {
		if s.ready {
			ready = append(ready, m)
		}
	}
	slices.Sort(ready)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ready)))
	for _, m := range ready {
		s := c.slots[m]
		dns := slices.Sorted(maps.Keys(s.days))
		buf = append(buf, byte(m))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(dns)))
		for _, dn := range dns {
			if err := s.days[dn].writeImage(w, dn, &buf); err != nil {
				return err
			}
		}
	}
	_, err := w.Write(buf)
	return err
}

func (d *day) writeImage(w io.Writer, dn int32, buf *[]byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	added := make([]cell, 0, len(d.extra))
	for k, a := range d.extra {
		added = append(added, cell{k, a})
	}
	slices.SortFunc(added, func(a, b cell) int { return compareKeys(a.key, b.key) })
	b := binary.LittleEndian.AppendUint32(*buf, uint32(dn))
	b = binary.LittleEndian.AppendUint32(b, uint32(d.live))
	i, j, n := 0, 0, 0
	for i < len(d.base) || j < len(added) {
		var next *cell
		if j == len(added) || i < len(d.base) && compareKeys(d.base[i].key, added[j].key) < 0 {
			next = &d.base[i]
			i++
		} else {
			next = &added[j]
			j++
		}
		if next.count == 0 {
			continue
		}
		n++
		b = appendCell(b, next)
		if len(b) >= 1<<16 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	*buf = b
	if n != d.live {
		// The count was written first: an image that disagrees with it
		// would be rejected at load, so fail now rather than then.
		return fmt.Errorf("cube: day %d holds %d cells, counted %d", dn, n, d.live)
	}
	return nil
}

func appendCell(b []byte, c *cell) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(c.key.category))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.key.client))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.key.clientGroup))
	b = append(b, c.key.flags, c.key.quarter)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.count))
	hi, lo := c.sum.Parts()
	b = binary.LittleEndian.AppendUint64(b, uint64(hi))
	return binary.LittleEndian.AppendUint64(b, uint64(lo))
}

func readCell(b []byte) cell {
	le := binary.LittleEndian
	return cell{
		key: key{category: int32(le.Uint32(b)), client: int32(le.Uint32(b[4:])), clientGroup: int32(le.Uint32(b[8:])), flags: b[12], quarter: b[13]},
		agg: agg{count: int64(le.Uint64(b[14:])), sum: tally.DecimalFromParts(int64(le.Uint64(b[22:])), int64(le.Uint64(b[30:])))},
	}
}

// ReadImage reads a cube that WriteImage wrote, with sub-day rollups of at
// most slotBudget cells, and returns it with the number of events its
// cells count. It checks the image's structure (ascending days and keys,
// known flags, no empty cell, slots only in rollups and within the day,
// rollup cells projected onto their rollup's dimensions), not its
// integrity: the caller checksums the bytes. Rollups beyond the budget are
// dropped, to be built again on first use if they fit.
func ReadImage(r io.Reader, slotBudget int) (*Cube, int64, error) {
	c := NewWithSlotBudget(slotBudget)
	var buf []byte
	days, events, err := readDays(r, &buf, func(k key) bool { return k.quarter == 0 })
	if err != nil {
		return nil, 0, err
	}
	for _, d := range days {
		c.days[d.n] = d.d
		c.order = append(c.order, d.n)
	}
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, 0, err
	}
	nslots := binary.LittleEndian.Uint32(hdr[:4])
	used := 0
	for i := range nslots {
		if _, err := io.ReadFull(r, hdr[:1]); err != nil {
			return nil, 0, err
		}
		m := mask(hdr[0])
		if m > fullMask || c.slots[m] != nil {
			return nil, 0, fmt.Errorf("%w: rollup %d: projection %d", ErrBadImage, i, m)
		}
		sdays, _, err := readDays(r, &buf, func(k key) bool { return k.quarter < slotsPerDay && m.project(k) == k })
		if err != nil {
			return nil, 0, err
		}
		s := &slots{days: make(map[int32]*day, len(sdays)), ready: true}
		for _, d := range sdays {
			s.days[d.n] = d.d
			s.cells += d.d.live
		}
		if used+s.cells > c.slotBudget {
			continue
		}
		used += s.cells
		c.slots[m] = s
	}
	return c, events, nil
}

type imageDay struct {
	n int32
	d *day
}

// readDays reads a count of days and the days, each checked by the rules
// above and by valid for its keys.
func readDays(r io.Reader, buf *[]byte, valid func(key) bool) ([]imageDay, int64, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, 0, err
	}
	ndays := binary.LittleEndian.Uint32(hdr[:4])
	var (
		days   []imageDay
		events int64
	)
	for i := range ndays {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, 0, err
		}
		dn := int32(binary.LittleEndian.Uint32(hdr[:4]))
		n := binary.LittleEndian.Uint32(hdr[4:])
		if i > 0 && dn <= days[len(days)-1].n || n > imageDayLimit {
			return nil, 0, fmt.Errorf("%w: day %d with %d cells", ErrBadImage, dn, n)
		}
		d := &day{extra: make(map[key]agg), base: make([]cell, 0, min(n, 1<<16))}
		// Read in chunks, so that a truncated image fails before it
		// allocates what its counts claim.
		for left := int(n); left > 0; {
			m := min(left, 4096)
			b := slices.Grow((*buf)[:0], m*cellBytes)[:m*cellBytes]
			*buf = b
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, 0, err
			}
			for j := 0; j < len(b); j += cellBytes {
				x := readCell(b[j:])
				if x.count == 0 || x.key.flags > 15 || x.key.flags&flagHasCategry == 0 && x.key.category != 0 || !valid(x.key) ||
					len(d.base) > 0 && compareKeys(d.base[len(d.base)-1].key, x.key) >= 0 {
					return nil, 0, fmt.Errorf("%w: day %d: cell %+v", ErrBadImage, dn, x)
				}
				d.base = append(d.base, x)
				d.total.add(x.agg)
			}
			left -= m
		}
		d.live = len(d.base)
		events += d.total.count
		days = append(days, imageDay{dn, d})
	}
	return days, events, nil
}
