package tally

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention is how long events are kept: events whose timestamp is older
// than Age (relative to now) are deleted in the background and refused on
// create. The zero value keeps events for ever.
type Retention struct {
	Age time.Duration
}

// Cutoff is the oldest timestamp kept at now: events before it are expired.
// Whole seconds, as filters are.
func (r Retention) Cutoff(now time.Time) time.Time {
	return now.Add(-r.Age).Truncate(time.Second)
}

// Expired reports whether an event with timestamp ts is past the retention.
func (r Retention) Expired(ts, now time.Time) bool {
	return r.Age > 0 && ts.Before(r.Cutoff(now))
}

// Expire deletes the events past the retention at now, through the store's
// bounded deletion by filter, and returns how many it deleted.
func (r Retention) Expire(ctx context.Context, s Store, now time.Time) (int64, error) {
	if r.Age <= 0 {
		return 0, nil
	}
	n, err := s.DeleteEvents(ctx, Filter{To: r.Cutoff(now)})
	if err != nil {
		return n, fmt.Errorf("expire events before %s: %w", r.Cutoff(now).Format(time.RFC3339), err)
	}
	return n, nil
}

// ParseRetention parses a retention: a number of days ("400d"), a Go
// duration ("720h"), or "0" / "off" for none.
func ParseRetention(s string) (Retention, error) {
	switch s {
	case "", "0", "off":
		return Retention{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 1_000_000 {
			return Retention{}, Errorf(EInvalid, "%q is not a positive number of days", s)
		}
		return Retention{Age: time.Duration(n) * 24 * time.Hour}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Retention{}, Errorf(EInvalid, "%q is neither a number of days (400d) nor a positive duration (720h)", s)
	}
	return Retention{Age: d}, nil
}
