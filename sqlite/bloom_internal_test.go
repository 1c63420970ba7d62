package sqlite

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tallyhq/tally"
)

// The id hash is SipHash-2-4: the reference implementation's vector for a
// 16-byte message (bytes 0..15) under the key 0..15.
func TestHashIsSipHash(t *testing.T) {
	var k hashKey
	var id tally.ID
	for i := range k {
		k[i], id[i] = byte(i), byte(i)
	}
	if got, want := k.hash(&id), uint64(0x3f2acc7f57c29bdb); got != want {
		t.Fatalf("hash = %#x, want %#x", got, want)
	}
}

// A filter holds every id added to it, and a full group's filter (2^20
// ids at the default size) says "maybe" for at most 0.02% of other ids:
// each false positive costs an SQL probe, one per filter of the store.
func TestBloomFalsePositives(t *testing.T) {
	k := defaultKnobs()
	f := newFilters(k, hashKey{1, 2, 3})
	r := rand.New(rand.NewPCG(1, 2))
	n := 1 << k.groupShift
	stored := make([]uint64, n)
	for i := range stored {
		stored[i] = r.Uint64()
		f.add(stored[i], 0)
	}
	for _, h := range stored {
		if got := f.maybe(nil, h); !slices.Equal(got, []int64{0}) {
			t.Fatalf("maybe(%#x) = %v, want [0]", h, got)
		}
	}
	const tries = 1 << 22
	fp := 0
	for range tries {
		if len(f.maybe(nil, r.Uint64())) > 0 {
			fp++
		}
	}
	t.Logf("%d false positives in %d (%.4f%%)", fp, tries, 100*float64(fp)/tries)
	if limit := tries / 5000; fp > limit {
		t.Errorf("%d false positives in %d (%.4f%%), want at most %d", fp, tries, 100*float64(fp)/tries, limit)
	}
}

// maybe names every group whose filter holds the id, newest first.
func TestFiltersMaybe(t *testing.T) {
	f := newFilters(knobs{groupShift: 4, epochShift: 2, filterBits: 512 * 3}, hashKey{9})
	r := rand.New(rand.NewPCG(3, 4))
	h := r.Uint64()
	for _, g := range []int64{0, 2, 5} {
		f.add(h, g)
	}
	f.add(r.Uint64(), 7)
	if got, want := f.maybe(nil, h), []int64{5, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("maybe = %v, want %v", got, want)
	}
}

// A saved filter made with another layout (the CRC without a layout
// number, as layout 1 wrote it) is not trusted, even when its size fits:
// its bits would say "no" for ids it holds.
func TestSavedFilterOfOtherLayoutRebuilt(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE filters (grp INTEGER PRIMARY KEY, key_check INTEGER, crc INTEGER, bits BLOB)`); err != nil {
		t.Fatal(err)
	}
	k := knobs{groupShift: 4, epochShift: 2, filterBits: 1024}
	f := newFilters(k, hashKey{7})
	f.add(12345, 0)
	f.add(67890, 1)
	bits0, bits1 := f.get(0).bytes(), f.get(1).bytes()
	oldCRC := func(g int64, bits []byte) int64 {
		h := crc32.New(crcTable)
		_, _ = h.Write(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, f.keyCheck), uint64(g)))
		_, _ = h.Write(bits)
		return int64(h.Sum32())
	}
	for _, row := range []struct {
		g    int64
		crc  int64
		bits []byte
	}{{0, oldCRC(0, bits0), bits0}, {1, int64(filterCRC(f.keyCheck, 1, bits1)), bits1}} {
		if _, err := db.Exec(`INSERT INTO filters VALUES (?, ?, ?, ?)`, row.g, int64(f.keyCheck), row.crc, row.bits); err != nil {
			t.Fatal(err)
		}
	}
	loaded := newFilters(k, hashKey{7})
	saved, err := loadSavedFilters(t.Context(), db, loaded, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int64]bool{1: true}; !maps.Equal(saved, want) {
		t.Errorf("saved = %v, want %v (group 0's CRC is layout 1's)", saved, want)
	}
}

// BenchmarkFiltersMaybe is the in-memory part of checking a new id at
// 1M, 10M and 30M events (one full filter a million).
func BenchmarkFiltersMaybe(b *testing.B) {
	for _, groups := range []int{1, 10, 30} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			k := defaultKnobs()
			f := newFilters(k, hashKey{5})
			r := rand.New(rand.NewPCG(5, 6))
			for g := range int64(groups) {
				for range 1 << k.groupShift {
					f.add(r.Uint64(), g)
				}
			}
			var dst []int64
			for b.Loop() {
				dst = f.maybe(dst[:0], r.Uint64())
			}
		})
	}
}
