package tally_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/tzdb"
)

// The tests of this file run over every zone of the tz database that the
// binary embeds and every change of UTC offset from 1970 to 2037.

func mustZones(t *testing.T) []tzdb.Zone {
	t.Helper()
	zones, err := tzdb.Zones()
	if err != nil {
		t.Fatalf("reading the toolchain's tz database: %v", err)
	}
	return zones
}

func floorMod(a, b int64) int64 { return ((a % b) + b) % b }

// wantBucket computes the contract's bucket of sec from the zone's offsets
// alone: an hour bucket is the run of instants sharing the local date,
// local hour and offset, keyed by its first instant; a day bucket is the
// local date, a week its ISO Monday, a month its first day, each keyed by
// that date's midnight in UTC.
func wantBucket(z *tzdb.Zone, sec int64, g tally.Granularity) int64 {
	wall := sec + int64(z.OffsetAt(sec)) // the local wall clock as Unix seconds
	day := wall - floorMod(wall, tally.SecondsPerDay)
	switch g {
	case tally.Hour:
		return max(sec-floorMod(wall, 3600), z.LastChange(sec))
	case tally.Week:
		days := day / tally.SecondsPerDay
		return (days - floorMod(days+3, 7)) * tally.SecondsPerDay // 1970-01-01 was a Thursday
	case tally.Month:
		y, m, _ := time.Unix(day, 0).UTC().Date()
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix()
	}
	return day
}

// samples are the instants checked around each offset change: just before,
// at and after it, a few inside the hour that follows, and the next hour
// and day.
var samples = []int64{-3601, -3600, -1801, -1, 0, 1, 59, 1799, 1800, 2699, 3599, 3600, 86399}

func TestReportBucketEveryZone(t *testing.T) {
	zones := mustZones(t)
	checked := 0
	for i := range zones {
		z := &zones[i]
		at := []int64{tzdb.Epoch.Unix(), tzdb.Epoch.Unix() + 1}
		for j, c := range z.Changes {
			// ReportBucket relies on an offset changing at most once within
			// an hour.
			if j > 0 && c.At-z.Changes[j-1].At < 3600 {
				t.Errorf("%s: the offset changes twice within an hour, at %d and %d", z.Name, z.Changes[j-1].At, c.At)
			}
			for _, d := range samples {
				at = append(at, c.At+d)
			}
		}
		fails := 0
		for _, sec := range at {
			for _, g := range []tally.Granularity{tally.Hour, tally.Day, tally.Week, tally.Month} {
				checked++
				got := tally.ReportBucket(sec, g, z.Loc)
				if want := wantBucket(z, sec, g); got != want {
					t.Errorf("%s: ReportBucket(%s, %s) = %s, want %s", z.Name, time.Unix(sec, 0).In(z.Loc).Format(time.RFC3339),
						g, time.Unix(got, 0).UTC().Format(time.RFC3339), time.Unix(want, 0).UTC().Format(time.RFC3339))
					fails++
				} else if g == tally.Hour {
					checkFirstInstant(t, z, sec, got)
				}
			}
			if fails >= 3 {
				break // enough for one zone
			}
		}
	}
	t.Logf("%d zones, %d instants and granularities checked", len(zones), checked)
}

// checkFirstInstant checks that key, the hour bucket of sec, is the first
// instant of its bucket: it maps to itself, the instant before it does not,
// and it has the offset of sec.
func checkFirstInstant(t *testing.T, z *tzdb.Zone, sec, key int64) {
	t.Helper()
	if key < tzdb.Epoch.Unix() {
		return // the run began before the scanned range
	}
	switch {
	case key > sec:
		t.Errorf("%s: the hour bucket of %d starts after it, at %d", z.Name, sec, key)
	case tally.ReportBucket(key, tally.Hour, z.Loc) != key:
		t.Errorf("%s: the hour bucket key %d is not in its own bucket", z.Name, key)
	case tally.ReportBucket(key-1, tally.Hour, z.Loc) == key:
		t.Errorf("%s: the hour bucket key %d is not the bucket's first instant", z.Name, key)
	case z.OffsetAt(key) != z.OffsetAt(sec):
		t.Errorf("%s: the hour bucket of %d starts at %d, under another offset", z.Name, sec, key)
	}
}

// oddOffsets are the zones that used, at some time since 1970, a UTC offset
// that is not a multiple of 15 minutes, with those offsets in seconds: the
// known exceptions to a rule that later work relies on. The test fails when
// one appears or disappears, so that the list stays exact.
var oddOffsets = map[string][]int{
	"Africa/Monrovia":    {-(44*60 + 30)},      // until 1972-01-07
	"Pacific/Kiritimati": {-(10*3600 + 40*60)}, // until 1979-10-01
}

func TestOffsetsSince1970AreQuarterHours(t *testing.T) {
	got := make(map[string][]int)
	for _, z := range mustZones(t) {
		for _, off := range z.Offsets() {
			if off%(15*60) != 0 {
				got[z.Name] = append(got[z.Name], off)
			}
		}
	}
	for name, offs := range got {
		if !slices.Equal(offs, oddOffsets[name]) {
			t.Errorf("%s uses offsets %v since 1970, not multiples of 15 minutes; pinned: %v", name, offs, oddOffsets[name])
		}
	}
	for name := range oddOffsets {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is pinned as using an offset that is not a multiple of 15 minutes, but does not", name)
		}
	}
}

// TestTimeBoundsPrintInEveryZone: the accepted timestamps fall on local
// dates of years 1969 to 9999 in every zone, so that every bucket prints as
// a four-digit date, and MaxTime is the last microsecond for which that
// holds.
func TestTimeBoundsPrintInEveryZone(t *testing.T) {
	latest := 0
	for _, z := range mustZones(t) {
		if y := tally.MinTime.In(z.Loc).Year(); y < 1969 {
			t.Errorf("%s: MinTime is in year %d", z.Name, y)
		}
		if y := tally.MaxTime.In(z.Loc).Year(); y > 9999 {
			t.Errorf("%s: MaxTime is in year %d", z.Name, y)
		}
		for _, g := range []tally.Granularity{tally.Day, tally.Week, tally.Month} {
			for _, at := range []time.Time{tally.MinTime, tally.MaxTime} {
				b := time.Unix(tally.ReportBucket(at.Unix(), g, z.Loc), 0).UTC()
				if y := b.Year(); y < 1969 || y > 9999 {
					t.Errorf("%s: the %s bucket of %s is in year %d", z.Name, g, at.Format(time.RFC3339), y)
				}
			}
		}
		latest = max(latest, tzdb.OffsetOf(tally.MaxTime.Unix(), z.Loc))
	}
	// One microsecond later is year 10000 in the zone furthest east.
	if y := tally.MaxTime.Add(time.Microsecond).In(time.FixedZone("", latest)).Year(); y != 10000 {
		t.Errorf("MaxTime is not the last microsecond of 9999 in the zone furthest east (%+d s): one later is in %d", latest, y)
	}
}
