package sqlite

import (
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
