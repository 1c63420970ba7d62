package sqlite

// Knobs sizes the write path down so that tests reach many epochs and
// filter groups, Bloom filter false positives and snapshot refreshes with
// a few hundred events.
type Knobs struct {
	EpochShift    uint  // an event's epoch is seq >> EpochShift
	GroupShift    uint  // one Bloom filter per seq >> GroupShift
	FilterLogBits uint  // each filter has 2^FilterLogBits bits (at least 512)
	BacklogMin    int64 // refresh once the backlog passes max(BacklogMin, events/4)
	Chunk         int   // rows per INSERT, a power of two
}

// WithKnobs returns opts with the write path sized by k.
func WithKnobs(opts Options, k Knobs) Options {
	opts.knobs = knobs{epochShift: k.EpochShift, groupShift: k.GroupShift, filterLogBits: k.FilterLogBits,
		backlogMin: k.BacklogMin, chunk: k.Chunk}
	return opts
}

// FilterBytes is the memory of the store's Bloom filters.
func (s *Store) FilterBytes() int { return s.w.filters.bytes() }
