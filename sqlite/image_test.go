package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/sqlite"
)

// imageKnobs: filter groups of 32 events, so that most are complete and
// saved in the table and the image holds the rest; images only when a
// test asks (and once after an Open that rebuilt).
var imageKnobs = sqlite.Knobs{EpochShift: 3, GroupShift: 5, FilterBits: 512, BacklogMin: 40, Chunk: 4, ImageEvery: 1 << 40}

// imageStore is a store with a recorded start-up image and, after it,
// creates, deletes of events the image counts (tombstones) and of events
// it does not, and snapshot refreshes: everything Open must combine.
type imageStore struct {
	path  string
	opts  sqlite.Options
	m     model
	stale []byte // the image file as it was before the last one
}

func newImageStore(t *testing.T, seed uint64) *imageStore {
	t.Helper()
	ctx := context.Background()
	is := &imageStore{path: filepath.Join(t.TempDir(), "tally.db"), m: model{},
		opts: sqlite.WithKnobs(sqlite.Options{Synchronous: "normal"}, imageKnobs)}
	s := mustOpen(t, is.path, is.opts)
	rng := rand.New(rand.NewPCG(seed, 7))
	var ids []tally.ID
	round := func(creates, deletes int) {
		t.Helper()
		batch := make([]tally.Event, creates)
		for i := range batch {
			batch[i] = event(rng)
		}
		if _, err := s.CreateEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			e.Normalize()
			is.m[e.ID] = e
			ids = append(ids, e.ID)
		}
		for range deletes {
			i := rng.IntN(len(ids))
			if err := s.DeleteEvent(ctx, ids[i]); err != nil {
				t.Fatal(err)
			}
			delete(is.m, ids[i])
			ids = append(ids[:i], ids[i+1:]...)
		}
	}
	round(150, 20)
	mustSaveImage(t, s)
	round(100, 30) // deletes of imaged events: tombstones
	var err error
	if is.stale, err = os.ReadFile(is.path + ".image"); err != nil {
		t.Fatal(err)
	}
	mustSaveImage(t, s) // prunes the tombstones so far
	round(120, 40)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return is
}

func mustSaveImage(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if err := s.SaveImage(context.Background()); err != nil {
		t.Fatalf("SaveImage: %v", err)
	}
}

// check opens the store and compares it with the model: reports, Verify,
// lookups, and that a stored id is refused again (the Bloom filters hold
// every id, however Open got them).
func (is *imageStore) check(t *testing.T, wantLoaded string) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s := mustOpen(t, is.path, is.opts)
	if got := s.Loaded(); !strings.HasPrefix(got, wantLoaded) {
		t.Fatalf("Open loaded %q, want %q…", got, wantLoaded)
	}
	checkModel(t, s, is.m, "after Open ("+s.Loaded()+")")
	n := 0
	for id, e := range is.m {
		if got, err := s.Event(ctx, id); err != nil || got.Value != e.Value {
			t.Fatalf("Event(%s) = %+v, %v; want %+v", id, got, err, e)
		}
		if err := s.CreateEvent(ctx, e); tally.ErrorCode(err) != tally.EConflict {
			t.Fatalf("CreateEvent of stored id %s: %v, want a conflict", id, err)
		}
		if n++; n == 40 {
			break
		}
	}
	return s
}

// rewrite changes the image with fn and fixes its checksum, as an image
// written by another version or for another key would be.
func rewrite(t *testing.T, path string, fn func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	body := b[:len(b)-4]
	binary.LittleEndian.PutUint32(b[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func execSQL(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatal(err)
	}
}

// Open trusts the start-up image only when it is the one the database
// recorded and intact; every other image — damaged, stale, foreign, of
// another version or key — is detected and rebuilt from the events, and
// the store answers exactly either way, then and after the next Open.
func TestStartupImageDamage(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, is *imageStore)
		want   string // how Open must load
	}{
		{"intact", func(*testing.T, *imageStore) {}, "image"},
		{"deleted", func(t *testing.T, is *imageStore) {
			if err := os.Remove(is.path + ".image"); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"truncated to half", func(t *testing.T, is *imageStore) {
			fi, err := os.Stat(is.path + ".image")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(is.path+".image", fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"last byte cut", func(t *testing.T, is *imageStore) {
			fi, err := os.Stat(is.path + ".image")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(is.path+".image", fi.Size()-1); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"byte flipped in a sum", func(t *testing.T, is *imageStore) {
			b, err := os.ReadFile(is.path + ".image")
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-4-8] ^= 0x10 // the last cell's sum, before the CRC: only the CRC tells
			if err := os.WriteFile(is.path+".image", b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"byte flipped in the header", func(t *testing.T, is *imageStore) {
			b, err := os.ReadFile(is.path + ".image")
			if err != nil {
				t.Fatal(err)
			}
			b[70] ^= 1 // the event count
			if err := os.WriteFile(is.path+".image", b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"stale image put back", func(t *testing.T, is *imageStore) {
			if err := os.WriteFile(is.path+".image", is.stale, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"image of another database", func(t *testing.T, is *imageStore) {
			other := newImageStore(t, 99)
			b, err := os.ReadFile(other.path + ".image")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(is.path+".image", b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "rebuilt"},
		{"another version", func(t *testing.T, is *imageStore) {
			rewrite(t, is.path+".image", func(b []byte) { b[8]++ })
		}, "rebuilt"},
		{"another hash key", func(t *testing.T, is *imageStore) {
			rewrite(t, is.path+".image", func(b []byte) { b[28] ^= 0xff })
		}, "rebuilt"},
		{"hash key of the database changed", func(t *testing.T, is *imageStore) {
			// The image and every saved filter were made with the old key.
			execSQL(t, is.path, `UPDATE meta SET value = randomblob(16) WHERE name = 'hash_key'`)
		}, "rebuilt"},
		{"saved filters damaged", func(t *testing.T, is *imageStore) {
			execSQL(t, is.path, `UPDATE filters SET bits = zeroblob(length(bits))`)
		}, "image"},
		{"crash before the record", func(t *testing.T, is *imageStore) {
			execSQL(t, is.path, `DELETE FROM meta WHERE name = 'image'`)
		}, "rebuilt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			is := newImageStore(t, 1)
			tt.damage(t, is)
			s := is.check(t, tt.want)
			// The rebuilt store writes a good image; the next Open uses it.
			mustSaveImage(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			is.check(t, "image")
		})
	}
}
