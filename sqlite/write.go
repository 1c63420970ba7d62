package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/cube"
	"github.com/tallyhq/tally/internal/storemetrics"
)

// knobs size the write path. Only tests change them (see export_test.go),
// to reach many epochs, filter false positives and snapshot refreshes with
// few events.
type knobs struct {
	epochShift uint  // an event's epoch is seq >> epochShift
	groupShift uint  // one Bloom filter per seq >> groupShift
	filterBits uint  // each filter's size in bits, whole 512-bit blocks
	backlogMin int64 // refresh snapshots once the backlog passes max(backlogMin, events/4)
	chunk      int   // rows per INSERT statement, a power of two
	slotBudget int   // cells of the cube's sub-day rollups (Options.SubDayCells, resolved)
	imageEvery int64 // write a start-up image after this many events created or deleted
}

// defaultKnobs: an epoch of 2^17 events keeps the id index's current
// subtree at ~4 MB; a filter per 2^20 events at 24 bits an event (3 MiB)
// costs 3 bytes an event and sends ~0.01% of new ids per filter to an SQL
// probe (see bloomK). An image every 2^18 changes bounds the replay at start to about
// a second (~4 µs an event).
func defaultKnobs() knobs {
	return knobs{epochShift: 17, groupShift: 20, filterBits: 24 << 20, backlogMin: 1 << 20, chunk: 128, imageEvery: 1 << 18}
}

// writer owns the only connection that writes. Requests that wait when a
// transaction starts share it (group commit), so that concurrent writes
// share one commit and its sync; every caller is answered only after the
// commit. The writer inserts the events of all the group's creates in
// multi-row INSERTs, after checking their ids against its Bloom filters.
type writer struct {
	db   *sql.DB // at most one connection
	reqs chan *writeReq
	done chan struct{} // closed when the loop has ended
	// onCommit receives what a committed transaction changed, before any of
	// its callers is answered: a cube that replaces the current one (nil if
	// none), then the cell changes made after it, in order.
	onCommit func(replace *cube.Cube, deltas []cellDelta)
	observe  func(callers int, elapsed time.Duration) // may be nil
	cube     func() *cube.Cube                        // the store's cube: the committed cells
	commits  *storemetrics.Commits                    // exported by the Store (metrics.go)

	mu       sync.RWMutex // guards closed against sends on a closed reqs, and stopping
	closed   bool
	stopping bool // Close has begun: no new image

	// Start-up images (image.go): the loop writes one; a goroutine of bg
	// publishes and records it while imaging is set.
	path     string // the database file's
	log      *slog.Logger
	imaging  atomic.Bool
	bg       sync.WaitGroup
	imageGen int64 // bumped by Repair: an image taken before it is not recorded

	// diskFullSince is when the last transaction failed for want of disk
	// space, nil once one commits again: Ping reports it.
	diskFullSince atomic.Pointer[time.Time]

	k       knobs
	filters *filters // shared with readers
	state            // owned by the loop; changed only after a commit
	stmts   stmts
}

// state is what the writer knows of the file.
type state struct {
	nextSeq int64
	days    map[int64]dayState // by day start (Unix seconds); every day with a snapshots row
	backlog int64              // events above their day's snapshot
	events  int64              // events stored

	fileID   [16]byte
	nextTomb int64          // the number of the next tombstone
	imageSeq int64          // the newest image's seq: deleting an event below it leaves a tombstone
	saved    map[int64]bool // the groups whose filter is in the filters table
	changes  int64          // events created and deleted since the last image

	loaded   string // how Open got the cube: "image", or "rebuilt: " and why
	replayed int64  // events Open replayed
}

type dayState struct {
	snap    int64 // cells(day) hold exactly the day's events with seq <= snap
	backlog int64 // the day's events with seq > snap
}

type stmts struct {
	insert      []*sql.Stmt // insert[i] inserts 2^i events
	insertCells []*sql.Stmt // insertCells[i] inserts 2^i cells
	probe       *sql.Stmt   // whether an id is stored in a group's epochs
	deleteByID  *sql.Stmt   // delete an id from a group's epochs
	deleteBySeq *sql.Stmt
	subtract    *sql.Stmt
	dropEmpty   *sql.Stmt
	newDay      *sql.Stmt
	setSnapshot *sql.Stmt
	clearDay    *sql.Stmt
	tombstone   *sql.Stmt
}

func (s *stmts) all() []*sql.Stmt {
	return append(append([]*sql.Stmt{s.probe, s.deleteByID, s.deleteBySeq, s.subtract, s.dropEmpty,
		s.newDay, s.setSnapshot, s.clearDay, s.tombstone}, s.insert...), s.insertCells...)
}

// maxGroup bounds how many callers share one transaction, so that one
// commit's latency stays bounded under a flood.
const maxGroup = 512

type reqKind uint8

const (
	reqCreate    reqKind = iota // store events, skipping ids already stored
	reqDelete                   // delete one event
	reqExclusive                // run fn alone in the transaction (Repair)
	reqBetween                  // run between outside any transaction, between two commits
)

type writeReq struct {
	ctx      context.Context
	kind     reqKind
	events   []tally.Event // reqCreate: normalized and valid
	inserted []bool        // reqCreate: the outcome of each event
	id       tally.ID      // reqDelete
	fn       func(*writeTx) error
	// between runs in the writer between two commits, when the cube holds
	// exactly the committed state: a read snapshot taken there matches it.
	between func() error
	done    chan error
}

// groupEvents is how many events the group asks to create or delete by id
// (deletions by filter count none: they are not known in advance).
func groupEvents(group []*writeReq) int {
	n := 0
	for _, r := range group {
		switch r.kind {
		case reqCreate:
			n += len(r.events)
		case reqDelete:
			n++
		}
	}
	return n
}

// rejection is a caller's outcome that changed nothing, such as a missing
// event: it fails that caller alone.
type rejection struct{ err error }

func (r rejection) Error() string { return r.err.Error() }
func (r rejection) Unwrap() error { return r.err }

// cellDelta is a change to one cell, handed to onCommit.
type cellDelta struct {
	key   tally.CellKey
	count int64
	sum   tally.Decimal
}

// eventColumns are the columns an insert writes; the value is in two (see
// exactValues).
const eventColumns = `seq, epoch, id, ts, device_type, category, client, client_group, valid, value_lo, value_hi`

// storedValue is an event's value as its two columns hold it.
type storedValue struct{ lo, hi int64 }

func (v storedValue) decimal() tally.Decimal { return tally.DecimalFromParts(v.hi, v.lo) }

// cellSum is a cell's sum as its two columns hold it.
type cellSum struct{ hi, lo int64 }

func (s cellSum) decimal() tally.Decimal { return tally.DecimalFromLimbs(s.hi, s.lo) }

func limbsOf(d tally.Decimal) (cellSum, error) {
	hi, lo, ok := d.Limbs()
	if !ok {
		return cellSum{}, tally.Errorf(tally.EInternal, "sqlite: a cell's sum %s is out of range", d)
	}
	return cellSum{hi, lo}, nil
}

func newWriter(ctx context.Context, db *sql.DB, k knobs, f *filters, st state, path string, log *slog.Logger) (*writer, error) {
	w := &writer{db: db, reqs: make(chan *writeReq, maxGroup), done: make(chan struct{}), k: k, filters: f, state: st,
		path: path, log: log, commits: storemetrics.NewCommits()}
	epochs := "epoch IN (?" + strings.Repeat(", ?", f.epochsPerGroup()-1) + ")"
	prepare := func(dst **sql.Stmt, query string) error {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", translate(err))
		}
		*dst = s
		return nil
	}
	fail := func(err error) (*writer, error) {
		_ = w.closeStmts()
		return nil, err
	}
	for n := 1; n <= k.chunk; n *= 2 {
		var ins, cells *sql.Stmt
		if err := prepare(&ins, `INSERT INTO events (`+eventColumns+`) VALUES `+rows(n, 11)); err != nil {
			return fail(err)
		}
		w.stmts.insert = append(w.stmts.insert, ins)
		if err := prepare(&cells, `INSERT INTO cells (day, device_type, category, client, client_group, valid, count, sum_hi, sum_lo) VALUES `+rows(n, 9)); err != nil {
			return fail(err)
		}
		w.stmts.insertCells = append(w.stmts.insertCells, cells)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.stmts.probe, `SELECT 1 FROM events WHERE ` + epochs + ` AND id = ?`},
		{&w.stmts.deleteByID, `DELETE FROM events WHERE ` + epochs + ` AND id = ?
			RETURNING seq, ts, device_type, category, client, client_group, valid, value_lo, value_hi`},
		{&w.stmts.deleteBySeq, `DELETE FROM events WHERE seq = ?
			RETURNING seq, ts, device_type, category, client, client_group, valid, value_lo, value_hi`},
		{&w.stmts.subtract, `UPDATE cells SET count = count - ?, sum_hi = sum_hi - ?, sum_lo = sum_lo - ?
			WHERE day = ? AND device_type = ? AND category = ? AND client = ? AND client_group = ? AND valid = ?`},
		{&w.stmts.dropEmpty, `DELETE FROM cells
			WHERE day = ? AND device_type = ? AND category = ? AND client = ? AND client_group = ? AND valid = ? AND count <= 0`},
		{&w.stmts.newDay, `INSERT OR IGNORE INTO snapshots (day, seq) VALUES (?, ?)`},
		{&w.stmts.setSnapshot, `INSERT OR REPLACE INTO snapshots (day, seq) VALUES (?, ?)`},
		{&w.stmts.clearDay, `DELETE FROM cells WHERE day = ?`},
		{&w.stmts.tombstone, `INSERT INTO tombstones (n, seq, ts, device_type, category, client, client_group, valid, value_lo, value_hi)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	} {
		if err := prepare(p.stmt, p.sql); err != nil {
			return fail(err)
		}
	}
	return w, nil
}

// rows returns n parenthesized groups of m placeholders.
func rows(n, m int) string {
	row := "(?" + strings.Repeat(", ?", m-1) + ")"
	return row + strings.Repeat(", "+row, n-1)
}

func (w *writer) start(onCommit func(*cube.Cube, []cellDelta), current func() *cube.Cube, observe func(int, time.Duration)) {
	w.onCommit, w.cube, w.observe = onCommit, current, observe
	go w.loop()
}

// submit queues r and returns once its transaction is committed (as durable
// as the synchronous option asks) or has failed.
func (w *writer) submit(r *writeReq) error {
	r.done = make(chan error, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return tally.Errorf(tally.EUnavailable, "store is closed")
	}
	w.reqs <- r
	w.mu.RUnlock()
	// Wait for the outcome even when ctx ends: the write may already be
	// committed, and the caller must not report failure for a stored event.
	return <-r.done
}

func (w *writer) loop() {
	defer close(w.done)
	w.maybeImage()
	group := make([]*writeReq, 0, maxGroup)
	for r := range w.reqs {
		if r.kind == reqBetween {
			r.done <- r.between()
			continue
		}
		group = append(group[:0], r)
		var held *writeReq // a reqBetween that arrived while grouping
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break more
				}
				if r.kind == reqBetween {
					held = r
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		w.commit(group)
		if held != nil {
			held.done <- held.between()
		}
		w.maybeImage()
	}
}

// commit runs the group's work in one transaction and answers every caller.
func (w *writer) commit(group []*writeReq) {
	// The shared transaction must not end with one caller's context.
	ctx := context.Background()
	start := time.Now()
	// Before any caller is answered, so that one who reads the metrics
	// after its write returns finds that write's commit in them.
	observe := func() {
		d := time.Since(start)
		w.commits.Observe(len(group), groupEvents(group), d)
		if w.observe != nil {
			w.observe(len(group), d)
		}
	}
	fail := func(err error) {
		if isDiskFull(err) {
			now := time.Now()
			w.diskFullSince.Store(&now)
		}
		observe()
		for _, r := range group {
			r.done <- err
		}
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", translate(err)))
		return
	}
	t := w.newTx(ctx, tx)
	results := make([]error, len(group))
	err = t.refresh()
	if err == nil {
		err = t.saveFilter()
	}
	for i, r := range group {
		if err != nil {
			break
		}
		if results[i] = r.ctx.Err(); results[i] != nil {
			continue // gave up before its work began: nothing written
		}
		switch r.kind {
		case reqCreate:
			err = t.create(r.events, r.inserted)
		case reqDelete:
			err = t.delete(r.id)
		case reqExclusive:
			if err = t.flush(); err == nil {
				err = r.fn(t)
			}
		}
		var rej rejection
		if errors.As(err, &rej) {
			results[i], err = rej.err, nil
		}
	}
	if err == nil {
		err = t.flush()
	}
	if err != nil {
		tx.Rollback()
		fail(err)
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", translate(err)))
		return
	}
	w.diskFullSince.Store(nil)
	w.apply(t)
	if t.replace != nil || len(t.deltas) > 0 {
		w.onCommit(t.replace, t.deltas)
	}
	observe()
	for i, r := range group {
		r.done <- results[i]
	}
}

// close finishes the writes already asked for and the image being
// published, then closes the connection.
func (w *writer) close() error {
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	w.mu.Unlock()
	w.bg.Wait() // its record is a write
	w.mu.Lock()
	w.closed = true
	close(w.reqs)
	w.mu.Unlock()
	<-w.done
	return errors.Join(w.closeStmts(), w.db.Close())
}

func (w *writer) closeStmts() error {
	var errs []error
	for _, s := range w.stmts.all() {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// writeTx is one write transaction. It stages its changes to the writer's
// state, which the writer applies only after the commit, so that a rolled
// back transaction leaves the state as the file is.
type writeTx struct {
	ctx    context.Context
	tx     *sql.Tx
	w      *writer
	bound  map[*sql.Stmt]*sql.Stmt
	deltas []cellDelta // the cell changes made so far (since replace)
	// replace, when set, is a cube rebuilt within the transaction, which
	// replaces the store's after the commit.
	replace *cube.Cube

	days            map[int64]dayState // days changed in this transaction
	reset           bool               // days replaces the writer's days
	backlog, events int64
	nextTomb        int64
	changes         int64 // events created and deleted
	savedGroup      int64 // a group whose filter this transaction saved, or -1
	newImageGen     bool  // Repair: the images taken so far no longer hold

	pending map[tally.ID]int64 // ids inserted in this transaction: their seq once flushed
	rows    []pendingRow       // events not yet sent to SQLite
	args    []any
	groups  []int64
}

type pendingRow struct {
	h   uint64 // the id's hash
	e   *tally.Event
	seq int64
}

func (w *writer) newTx(ctx context.Context, tx *sql.Tx) *writeTx {
	return &writeTx{ctx: ctx, tx: tx, w: w, days: make(map[int64]dayState), backlog: w.backlog, events: w.events,
		nextTomb: w.nextTomb, savedGroup: -1, pending: make(map[tally.ID]int64)}
}

func (w *writer) apply(t *writeTx) {
	if t.reset {
		w.days = t.days
	} else {
		for d, st := range t.days {
			w.days[d] = st
		}
	}
	w.backlog, w.events, w.nextTomb = t.backlog, t.events, t.nextTomb
	w.changes += t.changes
	if t.savedGroup >= 0 {
		w.saved[t.savedGroup] = true
	}
	if t.newImageGen {
		w.imageGen++
		w.changes = max(w.changes, w.k.imageEvery)
	}
}

func (t *writeTx) day(d int64) (dayState, bool) {
	if st, ok := t.days[d]; ok || t.reset {
		return st, ok
	}
	st, ok := t.w.days[d]
	return st, ok
}

// stmt returns s bound to the transaction, binding each statement once per
// transaction rather than once per row.
func (t *writeTx) stmt(s *sql.Stmt) *sql.Stmt {
	if b, ok := t.bound[s]; ok {
		return b
	}
	if t.bound == nil {
		t.bound = make(map[*sql.Stmt]*sql.Stmt, 8)
	}
	b := t.tx.StmtContext(t.ctx, s)
	t.bound[s] = b
	return b
}

func (t *writeTx) exec(s *sql.Stmt, args ...any) error {
	if _, err := t.stmt(s).ExecContext(t.ctx, args...); err != nil {
		return translate(err)
	}
	return nil
}

// create stores each event whose id is not stored yet (nor earlier in this
// transaction) and records which it stored.
func (t *writeTx) create(events []tally.Event, inserted []bool) error {
	for i := range events {
		e := &events[i]
		if _, dup := t.pending[e.ID]; dup {
			continue
		}
		h := t.w.filters.hash(e.ID)
		stored, err := t.stored(h, e.ID)
		if err != nil {
			return err
		}
		if stored {
			continue
		}
		t.pending[e.ID] = 0 // its seq is given at flush
		k := tally.KeyOf(e, tally.SecondsPerDay)
		st, ok := t.day(k.Bucket)
		if !ok {
			// A new day: its snapshot holds nothing so far. Pending rows
			// get seqs from nextSeq on.
			st.snap = t.w.nextSeq - 1
			if err := t.exec(t.w.stmts.newDay, k.Bucket, st.snap); err != nil {
				return fmt.Errorf("sqlite: add day: %w", err)
			}
		}
		st.backlog++
		t.days[k.Bucket] = st
		t.backlog++
		t.events++
		t.changes++
		t.rows = append(t.rows, pendingRow{h: h, e: e})
		// The cube's sub-day rollups need the event's slot, not its day.
		t.deltas = append(t.deltas, cellDelta{tally.KeyOf(e, cube.SlotWidth), 1, e.Value})
		inserted[i] = true
	}
	return nil
}

// stored reports whether the id hashed to h is in the file: only the groups
// whose filters say maybe are probed. Ids of this transaction's pending
// rows are in t.pending, not (yet) in the file.
func (t *writeTx) stored(h uint64, id tally.ID) (bool, error) {
	t.groups = t.w.filters.maybe(t.groups[:0], h)
	for _, g := range t.groups {
		args := append(t.w.filters.epochArgs(t.args[:0], g), id[:])
		var one int
		err := t.stmt(t.w.stmts.probe).QueryRowContext(t.ctx, args...).Scan(&one)
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("sqlite: look up id: %w", translate(err))
		}
	}
	return false, nil
}

// flush gives the pending rows their seqs and sends them to SQLite in as
// few statements as the prepared sizes allow.
//
// Seqs are given in id order, so that both the table (by seq) and the
// index (by epoch, id) are written in key order: each statement then
// touches a run of neighbouring index pages, each page once per flush
// rather than once per statement (SQLite keeps a statement journal with a
// copy of every page a multi-row statement changes).
func (t *writeTx) flush() error {
	slices.SortFunc(t.rows, func(a, b pendingRow) int { return bytes.Compare(a.e.ID[:], b.e.ID[:]) })
	for i := range t.rows {
		r := &t.rows[i]
		r.seq = t.w.nextSeq
		t.w.nextSeq++ // never reused, even if this transaction rolls back
		t.w.filters.add(r.h, r.seq>>t.w.k.groupShift)
		t.pending[r.e.ID] = r.seq
	}
	for len(t.rows) > 0 {
		i := log2(prevPow2(min(len(t.rows), t.w.k.chunk)))
		n := 1 << i
		args := t.args[:0]
		for _, r := range t.rows[:n] {
			e := r.e
			hi, lo := e.Value.Parts()
			args = append(args, r.seq, r.seq>>t.w.k.epochShift, e.ID[:], e.Timestamp.UnixMicro(), int64(e.DeviceType),
				int64(e.Category), int64(e.Client), int64(e.ClientGroup), e.Valid, lo, hi)
		}
		t.args = args
		if err := t.exec(t.w.stmts.insert[i], args...); err != nil {
			return fmt.Errorf("sqlite: insert events: %w", err)
		}
		t.rows = t.rows[n:]
	}
	t.rows = t.rows[:0]
	return nil
}

func prevPow2(n int) int {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// delete removes the event with the given id, from its day's snapshot too
// when the snapshot holds it.
func (t *writeTx) delete(id tally.ID) error {
	if err := t.flush(); err != nil { // the delete must see this group's inserts
		return err
	}
	e := tally.Event{ID: id}
	var seq int64
	found := false
	scan := func(row *sql.Row) error {
		err := scanDeleted(row, &seq, &e)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: delete event: %w", translate(err))
		}
		return nil
	}
	if s, ok := t.pending[id]; ok {
		if err := scan(t.stmt(t.w.stmts.deleteBySeq).QueryRowContext(t.ctx, s)); err != nil {
			return err
		}
		delete(t.pending, id)
	} else {
		t.groups = t.w.filters.maybe(t.groups[:0], t.w.filters.hash(id))
		for _, g := range t.groups {
			args := append(t.w.filters.epochArgs(t.args[:0], g), id[:])
			if err := scan(t.stmt(t.w.stmts.deleteByID).QueryRowContext(t.ctx, args...)); err != nil {
				return err
			}
			if found {
				break
			}
		}
	}
	if !found {
		return rejection{tally.Errorf(tally.ENotFound, "event %s not found", id)}
	}
	return t.removed(seq, &e)
}

// deleteSeq removes the event stored with seq, if it still is, and reports
// whether it did.
func (t *writeTx) deleteSeq(seq int64) (bool, error) {
	var e tally.Event
	var got int64
	err := scanDeleted(t.stmt(t.w.stmts.deleteBySeq).QueryRowContext(t.ctx, seq), &got, &e)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil // deleted meanwhile
	case err != nil:
		return false, fmt.Errorf("sqlite: delete event: %w", translate(err))
	}
	return true, t.removed(seq, &e)
}

// removed takes the event just deleted, which had seq, out of its day's
// snapshot or backlog and out of the cube.
func (t *writeTx) removed(seq int64, e *tally.Event) error {
	k := tally.KeyOf(e, tally.SecondsPerDay)
	st, _ := t.day(k.Bucket)
	if seq <= st.snap {
		if err := t.subtractCell(k, 1, e.Value); err != nil {
			return err
		}
	} else {
		st.backlog--
		t.backlog--
		t.days[k.Bucket] = st
	}
	if seq < t.w.imageSeq {
		hi, lo := e.Value.Parts()
		err := t.exec(t.w.stmts.tombstone, t.nextTomb, seq, e.Timestamp.UnixMicro(), int64(e.DeviceType), int64(e.Category),
			int64(e.Client), int64(e.ClientGroup), e.Valid, lo, hi)
		if err != nil {
			return fmt.Errorf("sqlite: add tombstone: %w", err)
		}
		t.nextTomb++
	}
	t.events--
	t.changes++
	t.deltas = append(t.deltas, cellDelta{tally.KeyOf(e, cube.SlotWidth), -1, e.Value.Neg()})
	return nil
}

// subtractCell takes count events with the given sum of values out of the
// stored cell k, and drops the cell once it counts nothing.
func (t *writeTx) subtractCell(k tally.CellKey, count int64, sum tally.Decimal) error {
	key := []any{k.Bucket, int64(k.DeviceType), int64(k.Category), int64(k.Client), int64(k.ClientGroup), k.Valid}
	limbs, err := limbsOf(sum)
	if err != nil {
		return err
	}
	if err := t.exec(t.w.stmts.subtract, append([]any{count, limbs.hi, limbs.lo}, key...)...); err != nil {
		return fmt.Errorf("sqlite: subtract from cell: %w", err)
	}
	if err := t.exec(t.w.stmts.dropEmpty, key...); err != nil {
		return fmt.Errorf("sqlite: drop empty cell: %w", err)
	}
	return nil
}

// refreshDay picks the day whose snapshot to refresh, if any: the day with
// the oldest snapshot once replaying from it at Open would read more than
// twice the backlog limit, else the day with the largest backlog once the
// total backlog passes the limit.
func (w *writer) refreshDay() (int64, bool) {
	limit := max(w.k.backlogMin, w.events/4)
	var (
		oldest, largest int64
		found           bool
	)
	for d, st := range w.days {
		if !found {
			oldest, largest, found = d, d, true
			continue
		}
		if o := w.days[oldest]; st.snap < o.snap || st.snap == o.snap && d < oldest {
			oldest = d
		}
		if l := w.days[largest]; st.backlog > l.backlog || st.backlog == l.backlog && d < largest {
			largest = d
		}
	}
	switch {
	case !found:
		return 0, false
	case w.nextSeq-1-w.days[oldest].snap > 2*limit:
		return oldest, true
	case w.backlog > limit:
		return largest, true
	}
	return 0, false
}

// refresh brings one day's snapshot up to date when the backlog asks for it.
// It runs first in a transaction, when the cube holds exactly the committed
// state: the day's cells are rewritten from the cube in key order.
func (t *writeTx) refresh() error {
	d, ok := t.w.refreshDay()
	if !ok {
		return nil
	}
	st, _ := t.day(d)
	last := t.w.nextSeq - 1
	if st.backlog > 0 { // else the stored cells are already exact
		if err := t.exec(t.w.stmts.clearDay, d); err != nil {
			return fmt.Errorf("sqlite: refresh day: %w", err)
		}
		var cells []cellDelta
		t.w.cube().DayCells(d, func(k tally.CellKey, count int64, sum tally.Decimal) {
			cells = append(cells, cellDelta{k, count, sum})
		})
		if err := t.insertCells(cells); err != nil {
			return fmt.Errorf("sqlite: refresh day: %w", err)
		}
	}
	if err := t.exec(t.w.stmts.setSnapshot, d, last); err != nil {
		return fmt.Errorf("sqlite: refresh day: %w", err)
	}
	t.backlog -= st.backlog
	t.days[d] = dayState{snap: last}
	return nil
}

// insertCells inserts cells, which must not be stored yet, in multi-row
// statements.
func (t *writeTx) insertCells(cells []cellDelta) error {
	for len(cells) > 0 {
		i := log2(prevPow2(min(len(cells), t.w.k.chunk)))
		n := 1 << i
		args := t.args[:0]
		for _, c := range cells[:n] {
			k := &c.key
			limbs, err := limbsOf(c.sum)
			if err != nil {
				return err
			}
			args = append(args, k.Bucket, int64(k.DeviceType), int64(k.Category), int64(k.Client), int64(k.ClientGroup),
				k.Valid, c.count, limbs.hi, limbs.lo)
		}
		t.args = args
		if err := t.exec(t.w.stmts.insertCells[i], args...); err != nil {
			return err
		}
		cells = cells[n:]
	}
	return nil
}

// scanDeleted reads the columns seq, ts, device_type, category, client,
// client_group, valid, value_lo, value_hi.
func scanDeleted(row *sql.Row, seq *int64, e *tally.Event) error {
	var ts, device, category int64
	var v storedValue
	if err := row.Scan(seq, &ts, &device, &category, &e.Client, &e.ClientGroup, &e.Valid, &v.lo, &v.hi); err != nil {
		return err
	}
	setEvent(e, ts, device, category)
	e.Value = v.decimal()
	return nil
}
