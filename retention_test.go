package tally_test

import (
	"testing"
	"time"

	"github.com/tallyhq/tally"
)

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "", want: 0}, {in: "off", want: 0}, {in: "0", want: 0},
		{in: "400d", want: 400 * 24 * time.Hour}, {in: "720h", want: 720 * time.Hour},
		{in: "0d", bad: true}, {in: "-3d", bad: true}, {in: "1y", bad: true}, {in: "-1h", bad: true}, {in: "xd", bad: true},
	} {
		got, err := tally.ParseRetention(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseRetention(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got.Age != tc.want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestRetentionExpired(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 500_000_000, time.UTC)
	r := tally.Retention{Age: 24 * time.Hour}
	cut := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	if !r.Cutoff(now).Equal(cut) {
		t.Fatalf("Cutoff = %s, want %s", r.Cutoff(now), cut)
	}
	if !r.Expired(cut.Add(-time.Microsecond), now) || r.Expired(cut, now) {
		t.Error("the cutoff itself is kept, the instant before it expired")
	}
	if (tally.Retention{}).Expired(time.Unix(0, 0), now) {
		t.Error("no retention expires nothing")
	}
}
