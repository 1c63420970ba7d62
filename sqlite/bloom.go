package sqlite

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
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

// bytes returns the filter's bits, to persist them.
func (f *bloom) bytes() []byte {
	b := make([]byte, 0, len(f.words)*8)
	for i := range f.words {
		b = binary.LittleEndian.AppendUint64(b, f.words[i].Load())
	}
	return b
}

// or sets the bits of b, a filter of 2^logBits bits as bytes returned them.
func (f *bloom) or(b []byte) error {
	if len(b) != len(f.words)*8 {
		return fmt.Errorf("a filter of %d bytes, want %d", len(b), len(f.words)*8)
	}
	for i := range f.words {
		if w := binary.LittleEndian.Uint64(b[i*8:]); w != 0 {
			f.words[i].Or(w)
		}
	}
	return nil
}

// hashKey keys the hash of ids. The filters are persisted, so the hash
// must be the same in every process (maphash's seeds are random and
// cannot be stored); it must also be keyed, so that clients, who choose
// ids, cannot aim them at one block and make every check probe SQL. The
// key is random per file, made by the migration that added the filters.
type hashKey [16]byte

// hash is SipHash-2-4 of the 16-byte id: a keyed pseudorandom function
// built for hash tables fed by untrusted input, in a few nanoseconds.
func (k *hashKey) hash(id *tally.ID) uint64 {
	le := binary.LittleEndian
	k0, k1 := le.Uint64(k[:8]), le.Uint64(k[8:])
	v0, v1, v2, v3 := k0^0x736f6d6570736575, k1^0x646f72616e646f6d, k0^0x6c7967656e657261, k1^0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13) ^ v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16) ^ v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21) ^ v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17) ^ v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	for _, m := range [3]uint64{le.Uint64(id[:8]), le.Uint64(id[8:]), 16 << 56} {
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}

// check identifies the key without revealing it: persisted filters and
// images carry it, so that bits made with another key are never trusted.
func (k *hashKey) check() uint64 {
	sum := sha256.Sum256(k[:])
	return binary.LittleEndian.Uint64(sum[:])
}

// filters holds one Bloom filter per group of seqs (2^groupShift events),
// over the ids stored with those seqs. A group spans several epochs: epochs
// keep the SQL index's inserts local, while fewer, larger filters keep the
// check of a new id (one cache miss per filter) cheap.
type filters struct {
	key        hashKey
	keyCheck   uint64 // key.check()
	groupShift uint   // a seq's group is seq >> groupShift
	epochShift uint   // a seq's epoch is seq >> epochShift
	logBits    uint   // each filter has 2^logBits bits

	mu     sync.Mutex               // serializes growth of groups
	groups atomic.Pointer[[]*bloom] // by group number; nil where none yet
}

func newFilters(k knobs, key hashKey) *filters {
	f := &filters{key: key, keyCheck: key.check(), groupShift: k.groupShift, epochShift: k.epochShift, logBits: k.filterLogBits}
	f.groups.Store(new([]*bloom))
	return f
}

func (f *filters) hash(id tally.ID) uint64 { return f.key.hash(&id) }

// epochsPerGroup is how many epochs one filter covers.
func (f *filters) epochsPerGroup() int { return 1 << (f.groupShift - f.epochShift) }

// add records that the id hashed to h is stored in group g.
func (f *filters) add(h uint64, g int64) { f.group(g).add(h) }

// group returns group g's filter, made empty if there was none.
func (f *filters) group(g int64) *bloom {
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
	return gs[g]
}

// get returns group g's filter, or nil.
func (f *filters) get(g int64) *bloom {
	gs := *f.groups.Load()
	if g < 0 || g >= int64(len(gs)) {
		return nil
	}
	return gs[g]
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
