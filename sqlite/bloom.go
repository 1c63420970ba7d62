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

// bloomK is how many bits each id sets. With 24 bits per id in 512-bit
// blocks it gives about 0.01% false positives (TestBloomFalsePositives).
// Every false positive costs an SQL probe of the group's epochs, one
// index seek each, and there is one filter per group: at 30M events a
// filter of 16 bits an id (0.12%) sent ~3.5% of new ids to SQL, which
// was most of the slowdown of ingestion into a large store.
const bloomK = 12

// bloom is a blocked Bloom filter: all bits of one id fall in one 512-bit
// block, a cache line, so that checking an id costs one cache miss per
// filter however many bits it tests. The writer sets bits while readers
// test them, hence the atomics; a bit once set is never cleared (a deleted
// id stays a "maybe", which the SQL probe then answers).
type bloom struct {
	words []atomic.Uint64
}

// newBloom returns a filter of the given number of 512-bit blocks.
func newBloom(blocks uint64) *bloom {
	return &bloom{words: make([]atomic.Uint64, blocks*8)}
}

// probe is where one id's bits are in any filter: its block (the low 32
// bits of the hash mapped onto the filter's blocks by multiplication, so
// that a filter need not have a power-of-two number of blocks) and, within
// the block, its bits as masks of the block's eight words. The bits are
// 9-bit pieces of two mixes of the hash, independent of the block: double
// hashing within a block repeated positions often enough to cost a third
// more false positives than the theory's. Filters of one store all have
// the same size, so one probe serves every group.
type probe struct {
	block uint64
	masks [8]uint64
}

func probeOf(h, blocks uint64) probe {
	p := probe{block: (h & 0xffffffff) * blocks >> 32}
	a, b := mix(h), mix(h^0x9e3779b97f4a7c15)
	for i := range bloomK {
		var bit uint64
		if i < 7 {
			bit, a = a&511, a>>9
		} else {
			bit, b = b&511, b>>9
		}
		p.masks[bit>>6] |= 1 << (bit & 63)
	}
	return p
}

// mix is SplitMix64's finalizer: every output bit depends on every input
// bit.
func mix(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (f *bloom) add(p *probe) {
	w := f.words[p.block*8:][:8]
	for i, m := range p.masks {
		if m != 0 && w[i].Load()&m != m {
			w[i].Or(m)
		}
	}
}

// has tests all the bits without branching on any of them, so that the
// loads of several filters' blocks (maybe) overlap instead of each cache
// miss waiting for the one before.
func (f *bloom) has(p *probe) bool {
	w := f.words[p.block*8:][:8]
	var missing uint64
	for i, m := range p.masks {
		missing |= m &^ w[i].Load()
	}
	return missing == 0
}

// bytes returns the filter's bits, to persist them.
func (f *bloom) bytes() []byte {
	b := make([]byte, 0, len(f.words)*8)
	for i := range f.words {
		b = binary.LittleEndian.AppendUint64(b, f.words[i].Load())
	}
	return b
}

// or sets the bits of b, a filter of the same size as bytes returned them.
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
	blocks     uint64 // each filter's 512-bit blocks: filterBits/512, at least one

	mu     sync.Mutex               // serializes growth of groups
	groups atomic.Pointer[[]*bloom] // by group number; nil where none yet
}

func newFilters(k knobs, key hashKey) *filters {
	f := &filters{key: key, keyCheck: key.check(), groupShift: k.groupShift, epochShift: k.epochShift,
		blocks: max(uint64(k.filterBits)/512, 1)}
	f.groups.Store(new([]*bloom))
	return f
}

func (f *filters) hash(id tally.ID) uint64 { return f.key.hash(&id) }

// epochsPerGroup is how many epochs one filter covers.
func (f *filters) epochsPerGroup() int { return 1 << (f.groupShift - f.epochShift) }

// add records that the id hashed to h is stored in group g.
func (f *filters) add(h uint64, g int64) {
	p := probeOf(h, f.blocks)
	f.group(g).add(&p)
}

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
			gs[g] = newBloom(f.blocks)
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
// hashed to h: none means the id is stored nowhere. Every group is tested
// (has does not branch), so that the cache misses of all the groups'
// blocks are in flight together: at 10M events, testing ten filters one
// miss after another cost ~1.2 µs an id.
func (f *filters) maybe(dst []int64, h uint64) []int64 {
	p := probeOf(h, f.blocks)
	gs := *f.groups.Load()
	for g := len(gs) - 1; g >= 0; g-- {
		if gs[g] != nil && gs[g].has(&p) {
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
