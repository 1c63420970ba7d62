package api

import (
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/tzdb"
)

// TestHourLabelsEveryZone checks the printed hour label of the buckets on
// either side of every change of offset in every zone: it must read back
// as the bucket's first instant, with the offset in force at it.
func TestHourLabelsEveryZone(t *testing.T) {
	zones, err := tzdb.Zones()
	if err != nil {
		t.Fatalf("reading the toolchain's tz database: %v", err)
	}
	for _, z := range zones {
		q := &tally.ReportQuery{Granularity: tally.Hour, Location: z.Loc}
		for _, c := range z.Changes {
			for _, sec := range []int64{c.At - 1, c.At, c.At + 1799} {
				key := tally.ReportBucket(sec, tally.Hour, z.Loc)
				off := tzdb.OffsetOf(key, z.Loc)
				if off%60 != 0 {
					// RFC 3339 writes whole minutes: Africa/Monrovia's
					// -00:44:30 (until 1972) cannot be printed exactly.
					continue
				}
				label, _ := appendCell(nil, q, tally.ColDate, &tally.Row{Key: tally.CellKey{Bucket: key}}, false)
				got, err := time.Parse(time.RFC3339, string(label))
				if err != nil {
					t.Fatalf("%s: label %q: %v", z.Name, label, err)
				}
				if _, gotOff := got.Zone(); got.Unix() != key || gotOff != off {
					t.Errorf("%s: the bucket starting at %s is labelled %q", z.Name,
						time.Unix(key, 0).UTC().Format(time.RFC3339), label)
				}
			}
		}
	}
}
