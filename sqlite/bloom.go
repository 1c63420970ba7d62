package sqlite

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/tallyhq/tally"
)

// bloomK is how many bits each id sets. With 16 bits per id in 512-bit
// blocks it gives about 0.1% false positives.
const bloomK = 8

// bloom is a blocked Bloom filter: all bits of one id fall in one 512-bit
// block, a cache line, so that checking an id costs one cache miss per
// filter however many bits it tests. The writer sets bits while readers
// test them, hence the atomics; a bit once set is never cleared (a deleted
// id stays a "maybe", which the SQL probe then answers).
type bloom struct {
	words []atomic.Uint64
	mask  uint64 // blocks-1; blocks is a power of two
}

// newBloom returns a filter of 2^logBits bits, at least one block.
func newBloom(logBits uint) *bloom {
	logBits = max(logBits, 9)
	return &bloom{words: make([]atomic.Uint64, 1<<(logBits-6)), mask: 1<<(logBits-9) - 1}
}

// Bits are chosen by enhanced double hashing within h's block; add and has
// spell the loop out because they are the hot path of every write.

func (f *bloom) add(h uint64) {
	w := f.words[int(h&f.mask)*8:][:8]
	x, y := uint32(h>>32), uint32(h>>20)|1
	for i := range uint32(bloomK) {
		p := x & 511
		if bit := uint64(1) << (p & 63); w[p>>6].Load()&bit == 0 {
			w[p>>6].Or(bit)
		}
		x += y
		y += i
	}
}

func (f *bloom) has(h uint64) bool {
	w := f.words[int(h&f.mask)*8:][:8]
	x, y := uint32(h>>32), uint32(h>>20)|1
	for i := range uint32(bloomK) {
		p := x & 511
		if w[p>>6].Load()&(uint64(1)<<(p&63)) == 0 {
			return false
		}
		x += y
		y += i
	}
	return true
}

// filters holds one Bloom filter per group of seqs (2^groupShift events),
// over the ids stored with those seqs. A group spans several epochs: epochs
// keep the SQL index's inserts local, while fewer, larger filters keep the
// check of a new id (one cache miss per filter) cheap.
type filters struct {
	seed       maphash.Seed
	groupShift uint // a seq's group is seq >> groupShift
	epochShift uint // a seq's epoch is seq >> epochShift
	logBits    uint // each filter has 2^logBits bits

	mu     sync.Mutex               // serializes growth of groups
	groups atomic.Pointer[[]*bloom] // by group number; nil where none yet
}

func newFilters(k knobs) *filters {
	f := &filters{seed: maphash.MakeSeed(), groupShift: k.groupShift, epochShift: k.epochShift, logBits: k.filterLogBits}
	f.groups.Store(new([]*bloom))
	return f
}

func (f *filters) hash(id tally.ID) uint64 { return maphash.Bytes(f.seed, id[:]) }

// epochsPerGroup is how many epochs one filter covers.
func (f *filters) epochsPerGroup() int { return 1 << (f.groupShift - f.epochShift) }

// add records that the id hashed to h is stored in group g.
func (f *filters) add(h uint64, g int64) {
	gs := *f.groups.Load()
	if g >= int64(len(gs)) || gs[g] == nil {
		f.mu.Lock()
		gs = *f.groups.Load()
		if g >= int64(len(gs)) {
			// Copy on growth: readers keep the slice they loaded.
			gs = append(append(make([]*bloom, 0, g+1), gs...), make([]*bloom, g+1-int64(len(gs)))...)
		} else {
			gs = append([]*bloom(nil), gs...)
		}
		if gs[g] == nil {
			gs[g] = newBloom(f.logBits)
		}
		f.groups.Store(&gs)
		f.mu.Unlock()
	}
	gs[g].add(h)
}

// maybe appends to dst the groups, newest first, that may hold the id
// hashed to h: none means the id is stored nowhere.
func (f *filters) maybe(dst []int64, h uint64) []int64 {
	gs := *f.groups.Load()
	for g := len(gs) - 1; g >= 0; g-- {
		if gs[g] != nil && gs[g].has(h) {
			dst = append(dst, int64(g))
		}
	}
	return dst
}

// bytes is the filters' memory, for the record.
func (f *filters) bytes() int {
	n := 0
	for _, b := range *f.groups.Load() {
		if b != nil {
			n += len(b.words) * 8
		}
	}
	return n
}

// epochArgs appends the epochs of group g, as SQL arguments.
func (f *filters) epochArgs(dst []any, g int64) []any {
	first := g << (f.groupShift - f.epochShift)
	for i := range int64(f.epochsPerGroup()) {
		dst = append(dst, first+i)
	}
	return dst
}

// log2 of a power of two.
func log2(n int) uint { return uint(bits.TrailingZeros64(uint64(n))) }
