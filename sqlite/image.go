package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/tallyhq/tally/internal/cube"
)

// The start-up image is what Open would otherwise rebuild from the whole
// file: the cube's day cells, the writer's per-day state and the Bloom
// filters of the groups not yet in the filters table, as of one commit.
// Open loads it and replays only what was committed after it: the events
// with a seq at or above the image's, and the tombstones of the events
// deleted since that it counts.
//
// It lives in a file beside the database, <path>.image, not in the
// database: at 10M events it is ~110 MB, which a transaction would write
// twice (WAL, then checkpoint) while holding the only writer. The writer
// writes it between two commits, when the cube is exactly the committed
// state, to a temporary file; a goroutine fsyncs it, renames it into place
// and fsyncs the folder, and only then records it in the meta table, in a
// transaction that also prunes the tombstones it makes unnecessary. The
// database is the authority: Open trusts an image only when its header
// matches the record (a random token naming this very write, its seq and
// tombstone marks), the file's identity, the hash key and the knobs, and
// its CRC matches its bytes. Anything else — no file, a truncated or
// flipped one, an older image put back, one from another file or version,
// a crash between the rename and the record — is rejected with a logged
// reason, and Open rebuilds from the cells table and the events as before
// and writes a new image.
const (
	imageMagic   = "TALLYIMG"
	imageVersion = 3 // 2: with the built sub-day rollups; 3: filters of 24 bits an id (filterLayout 2)

	metaHashKey = "hash_key"
	metaFileID  = "file_id"
	metaImage   = "image" // imageRecord.bytes()
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// imageRecord names the image the file trusts.
type imageRecord struct {
	token [16]byte
	seq   int64 // the image holds exactly the events stored with a seq below it
	tomb  int64 // and the deletions of the tombstones numbered up to it
}

func (r imageRecord) bytes() []byte {
	b := append([]byte(nil), r.token[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.seq))
	return binary.LittleEndian.AppendUint64(b, uint64(r.tomb))
}

// meta is the meta table's content.
type meta struct {
	key    hashKey
	fileID [16]byte
	image  *imageRecord // nil when none is recorded
}

func readMeta(ctx context.Context, db querier) (meta, error) {
	var m meta
	rows, err := db.QueryContext(ctx, `SELECT name, value FROM meta`)
	if err != nil {
		return m, fmt.Errorf("sqlite: read meta: %w", translate(err))
	}
	defer rows.Close()
	var key, id bool
	for rows.Next() {
		var (
			name  string
			value []byte
		)
		if err := rows.Scan(&name, &value); err != nil {
			return m, fmt.Errorf("sqlite: read meta: %w", translate(err))
		}
		switch {
		case name == metaHashKey && len(value) == len(m.key):
			key = copy(m.key[:], value) > 0
		case name == metaFileID && len(value) == len(m.fileID):
			id = copy(m.fileID[:], value) > 0
		case name == metaImage && len(value) == 32:
			r := imageRecord{seq: int64(binary.LittleEndian.Uint64(value[16:])), tomb: int64(binary.LittleEndian.Uint64(value[24:]))}
			copy(r.token[:], value)
			m.image = &r
		}
	}
	if err := rows.Err(); err != nil {
		return m, fmt.Errorf("sqlite: read meta: %w", translate(err))
	}
	if !key || !id {
		return m, fmt.Errorf("sqlite: the meta table has no valid %s or %s: the file is damaged", metaHashKey, metaFileID)
	}
	return m, nil
}

// image is a loaded start-up image.
type image struct {
	rec    imageRecord
	cube   *cube.Cube
	events int64
	days   map[int64]dayState // as of the image
	groups map[int64][]byte   // filter bits by group
}

// imageHeader is what identifies an image and what it must match.
type imageHeader struct {
	version  uint32
	fileID   [16]byte
	keyCheck uint64
	rec      imageRecord
	events   int64
	shifts   [3]uint32 // groupShift, epochShift, filterBits/512
}

func (h *imageHeader) append(b []byte) []byte {
	b = append(b, imageMagic...)
	b = binary.LittleEndian.AppendUint32(b, h.version)
	b = append(b, h.fileID[:]...)
	b = binary.LittleEndian.AppendUint64(b, h.keyCheck)
	b = append(b, h.rec.bytes()...)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.events))
	for _, s := range h.shifts {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return b
}

const imageHeaderBytes = 8 + 4 + 16 + 8 + 32 + 8 + 12

func shiftsOf(k knobs) [3]uint32 {
	return [3]uint32{uint32(k.groupShift), uint32(k.epochShift), uint32(k.filterBits / 512)}
}

// imagePath is where the image of the database at path lives.
func imagePath(path string) string { return path + ".image" }

// writeImage writes the image to w, ending with the CRC of all before it.
func writeImage(w io.Writer, h imageHeader, days map[int64]dayState, groups map[int64]*bloom, c *cube.Cube) error {
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	b := h.append(nil)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(days)))
	for d, st := range days {
		b = binary.LittleEndian.AppendUint64(b, uint64(d))
		b = binary.LittleEndian.AppendUint64(b, uint64(st.snap))
		b = binary.LittleEndian.AppendUint64(b, uint64(st.backlog))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(groups)))
	if _, err := bw.Write(b); err != nil {
		return err
	}
	for g, f := range groups {
		if _, err := bw.Write(binary.LittleEndian.AppendUint64(nil, uint64(g))); err != nil {
			return err
		}
		if _, err := bw.Write(f.bytes()); err != nil {
			return err
		}
	}
	if err := c.WriteImage(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// errStale marks an image that is intact but not the one the file trusts.
var errStale = errors.New("stale")

// readImage reads the image at path and checks it against want: every
// field of the header, then the structure and the CRC of the rest.
func readImage(path string, want imageHeader, slotBudget int) (*image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	crc := crc32.New(crcTable)
	r := io.TeeReader(br, crc)
	hdr := make([]byte, imageHeaderBytes)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if !bytes.HasPrefix(hdr, []byte(imageMagic)) {
		return nil, errors.New("not an image")
	}
	le := binary.LittleEndian
	if v := le.Uint32(hdr[8:]); v != want.version {
		return nil, fmt.Errorf("version %d, want %d", v, want.version)
	}
	if !bytes.Equal(hdr[12:28], want.fileID[:]) {
		return nil, errors.New("made for another database file")
	}
	if le.Uint64(hdr[28:]) != want.keyCheck {
		return nil, errors.New("made with another hash key")
	}
	got := want
	got.events = int64(le.Uint64(hdr[68:]))
	if exp := got.append(nil); !bytes.Equal(hdr, exp) {
		return nil, fmt.Errorf("%w: not the image the database recorded, or other knobs", errStale)
	}
	img := &image{rec: want.rec, days: make(map[int64]dayState), groups: make(map[int64][]byte)}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("days: %w", err)
	}
	buf := make([]byte, 24)
	for range le.Uint32(n[:]) {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("days: %w", err)
		}
		img.days[int64(le.Uint64(buf))] = dayState{snap: int64(le.Uint64(buf[8:])), backlog: int64(le.Uint64(buf[16:]))}
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("filters: %w", err)
	}
	size := 64 * max(int(want.shifts[2]), 1) // bytes: 64 a block
	for range le.Uint32(n[:]) {
		b := make([]byte, 8+size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("filters: %w", err)
		}
		img.groups[int64(le.Uint64(b))] = b[8:]
	}
	if img.cube, img.events, err = cube.ReadImage(r, slotBudget); err != nil {
		return nil, fmt.Errorf("cells: %w", err)
	}
	if img.events != got.events {
		return nil, fmt.Errorf("cells count %d events, the header %d", img.events, got.events)
	}
	sum := crc.Sum32()
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, fmt.Errorf("checksum: %w", err)
	}
	if le.Uint32(n[:]) != sum {
		return nil, errors.New("checksum mismatch")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("bytes after the checksum")
	}
	return img, nil
}

// publishImage makes the image written to tmp durable under its final
// name: fsync, rename, fsync of the folder. Only then may the database
// record it.
func publishImage(tmp *os.File, path string) error {
	err := tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = dir.Sync()
	if cerr := dir.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeTempImages removes what a crash left of images being written.
func removeTempImages(path string) {
	tmps, _ := filepath.Glob(imagePath(path) + "-*.tmp")
	for _, t := range tmps {
		_ = os.Remove(t)
	}
}

// filterLayout numbers the way ids map to a filter's bits (probeOf). A
// saved filter of another layout fails its CRC and is rebuilt from the id
// index: its bits would answer "no" for ids it holds. Layout 1 (16 bits an
// id, blocks by mask) had no number in its CRC.
const filterLayout = 2

// filterCRC ties a persisted group filter to the hash key, the layout, its
// group and its bits.
func filterCRC(keyCheck uint64, g int64, bits []byte) uint32 {
	h := crc32.New(crcTable)
	b := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, keyCheck), uint64(g))
	_, _ = h.Write(binary.LittleEndian.AppendUint32(b, filterLayout))
	_, _ = h.Write(bits)
	return h.Sum32()
}

// loadSavedFilters ORs into f the persisted filters of groups up to last
// made with f's key whose CRC holds, and returns their groups.
func loadSavedFilters(ctx context.Context, db querier, f *filters, last int64) (map[int64]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT grp, key_check, crc, bits FROM filters`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	saved := make(map[int64]bool)
	check := f.key.check()
	for rows.Next() {
		var (
			g, kc, c int64
			bits     []byte
		)
		if err := rows.Scan(&g, &kc, &c, &bits); err != nil {
			return nil, translate(err)
		}
		if uint64(kc) != check || uint32(c) != filterCRC(check, g, bits) || g < 0 || g > last {
			continue // rebuilt from the id index
		}
		if err := f.group(g).or(bits); err != nil {
			continue
		}
		saved[g] = true
	}
	return saved, translate(rows.Err())
}
