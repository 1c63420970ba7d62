// Package tzdb lists, for tests, every zone of the tz database that the
// binary embeds (time/tzdata is generated from the Go toolchain's
// lib/time/zoneinfo.zip) with its changes of UTC offset from 1970 to 2037.
package tzdb

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Zone is a zone of the tz database.
type Zone struct {
	Name string
	Loc  *time.Location
	// First is the offset in force at 1970-01-01T00:00:00Z. Changes are the
	// instants from then to 2038 at which the offset changes (a change of
	// name or DST flag alone is not one), in order.
	First   int
	Changes []Change
}

// Change is a change of a zone's UTC offset.
type Change struct {
	At            int64 // Unix seconds of the first instant with the new offset
	Before, After int   // offsets in seconds east of UTC
}

var (
	// Epoch and Horizon bound the scanned range.
	Epoch   = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	Horizon = time.Date(2038, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Zones returns every zone, read once. The zones are read from the
// toolchain's zip itself rather than by time.LoadLocation, which would
// prefer the host's zoneinfo files.
var Zones = sync.OnceValues(func() ([]Zone, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	z, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		return nil, err
	}
	defer z.Close()
	var zones []Zone
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		data, err := readAll(f)
		if err != nil {
			return nil, err
		}
		loc, err := time.LoadLocationFromTZData(f.Name, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		zones = append(zones, scan(f.Name, loc))
	}
	if len(zones) < 300 {
		return nil, errors.New("fewer than 300 zones in zoneinfo.zip")
	}
	return zones, nil
})

func readAll(f *zip.File) ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// OffsetOf is loc's offset at sec, by Go's time package.
func OffsetOf(sec int64, loc *time.Location) int {
	_, off := time.Unix(sec, 0).In(loc).Zone()
	return off
}

// scan walks loc's zone periods from 1970 to 2038 with ZoneBounds and keeps
// the boundaries where the offset changes.
func scan(name string, loc *time.Location) Zone {
	t := Epoch.In(loc)
	off := OffsetOf(t.Unix(), loc)
	z := Zone{Name: name, Loc: loc, First: off}
	for {
		_, end := t.ZoneBounds()
		if end.IsZero() {
			return z
		}
		if !end.After(t) {
			// Under a zone's rule string, Go ends a leap year's last
			// period a day early (365 days after the year's start), at t
			// itself. Step over that day, finding any change within it.
			end = t.Add(24 * time.Hour)
			if OffsetOf(end.Unix(), loc) != off {
				lo, hi := t.Unix(), end.Unix()
				for hi-lo > 1 {
					mid := lo + (hi-lo)/2
					if OffsetOf(mid, loc) == off {
						lo = mid
					} else {
						hi = mid
					}
				}
				end = time.Unix(hi, 0).In(loc)
			}
		}
		if !end.Before(Horizon) {
			return z
		}
		t = end
		if next := OffsetOf(t.Unix(), loc); next != off {
			z.Changes = append(z.Changes, Change{At: end.Unix(), Before: off, After: next})
			off = next
		}
	}
}

// OffsetAt is the zone's offset at sec, from its list of changes.
func (z *Zone) OffsetAt(sec int64) int {
	// The comparison never says "equal": i is the first change after sec.
	i, _ := slices.BinarySearchFunc(z.Changes, sec, func(c Change, s int64) int {
		if c.At <= s {
			return -1
		}
		return 1
	})
	if i == 0 {
		return z.First
	}
	return z.Changes[i-1].After
}

// LastChange is the latest offset change at or before sec, or
// math.MinInt64 when there is none since 1970.
func (z *Zone) LastChange(sec int64) int64 {
	last := int64(math.MinInt64)
	for _, c := range z.Changes {
		if c.At > sec {
			break
		}
		last = c.At
	}
	return last
}

// Offsets lists every offset the zone used from 1970 on, in order of first
// use; after 2037 a zone follows its last rule, so 9999-12-31 is checked too.
func (z *Zone) Offsets() []int {
	offs := []int{z.First}
	for _, c := range z.Changes {
		if !slices.Contains(offs, c.After) {
			offs = append(offs, c.After)
		}
	}
	far := OffsetOf(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix(), z.Loc)
	if !slices.Contains(offs, far) {
		offs = append(offs, far)
	}
	return offs
}
