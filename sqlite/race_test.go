//go:build race

package sqlite_test

// The race detector slows the transpiled SQLite down about tenfold; the
// randomized test then runs smaller so the suite stays quick.
const raceEnabled = true
