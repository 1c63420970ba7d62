package sqlite_test

import "github.com/tallyhq/tally/sqlite"

// tinyKnobs: epochs of 8 events, a Bloom filter of 512 bits per 32 events
// (some false positives), a snapshot refresh almost every round.
var tinyKnobs = sqlite.Knobs{EpochShift: 3, GroupShift: 5, FilterBits: 512, BacklogMin: 1, Chunk: 4}
