package storetest

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
)

func testEvent(t *testing.T, newStore func(t *testing.T) tally.Store) {
	ctx := context.Background()
	kolkata := time.FixedZone("+05:30", 5*3600+1800)

	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name string
			in   tally.Event
			want tally.Event // as read back
		}{{
			name: "all set",
			in: tally.Event{ID: idOf(1), DeviceType: tally.DeviceMobile, Category: 7, Client: 412, ClientGroup: 3,
				Timestamp: date("2026-11-02T13:04:05.123456Z"), Valid: true, Value: tally.MustDecimal("47.25")},
			want: tally.Event{ID: idOf(1), DeviceType: tally.DeviceMobile, Category: 7, Client: 412, ClientGroup: 3,
				Timestamp: date("2026-11-02T13:04:05.123456Z"), Valid: true, Value: tally.MustDecimal("47.25")},
		}, {
			name: "nulls",
			in: tally.Event{ID: idOf(2), DeviceType: tally.DeviceNone, Category: tally.NoCategory, Client: 1, ClientGroup: 1,
				Timestamp: date("2026-01-01T00:00:00Z"), Value: tally.MustDecimal("0")},
			want: tally.Event{ID: idOf(2), DeviceType: tally.DeviceNone, Category: tally.NoCategory, Client: 1, ClientGroup: 1,
				Timestamp: date("2026-01-01T00:00:00Z"), Value: tally.MustDecimal("0")},
		}, {
			name: "category zero is not null",
			in: tally.Event{ID: idOf(3), DeviceType: tally.DeviceTablet, Category: 0, Client: 0, ClientGroup: 0,
				Timestamp: date("2026-01-01T00:00:00Z"), Value: tally.MustDecimal("-1.5")},
			want: tally.Event{ID: idOf(3), DeviceType: tally.DeviceTablet, Category: 0, Client: 0, ClientGroup: 0,
				Timestamp: date("2026-01-01T00:00:00Z"), Value: tally.MustDecimal("-1.5")},
		}, {
			name: "extremes",
			in: tally.Event{ID: idOf(4), DeviceType: tally.DeviceDesktop, Category: math.MinInt32, Client: math.MaxInt32,
				ClientGroup: math.MinInt32, Timestamp: tally.MaxTime, Valid: true, Value: tally.MaxValue},
			want: tally.Event{ID: idOf(4), DeviceType: tally.DeviceDesktop, Category: math.MinInt32, Client: math.MaxInt32,
				ClientGroup: math.MinInt32, Timestamp: tally.MaxTime, Valid: true, Value: tally.MaxValue},
		}, {
			name: "earliest time, smallest value",
			in: tally.Event{ID: idOf(5), Category: math.MaxInt32, Client: math.MinInt32, ClientGroup: math.MaxInt32,
				Timestamp: tally.MinTime, Value: tally.MaxValue.Neg()},
			want: tally.Event{ID: idOf(5), Category: math.MaxInt32, Client: math.MinInt32, ClientGroup: math.MaxInt32,
				Timestamp: tally.MinTime, Value: tally.MaxValue.Neg()},
		}, {
			name: "offset converted to UTC, nanoseconds cut to microseconds",
			in: tally.Event{ID: idOf(6), Category: 1, Client: 1, ClientGroup: 1,
				Timestamp: time.Date(2026, 3, 1, 5, 0, 0, 123456789, kolkata), Value: tally.MustDecimal("0.1")},
			want: tally.Event{ID: idOf(6), Category: 1, Client: 1, ClientGroup: 1,
				Timestamp: date("2026-02-28T23:30:00.123456Z"), Value: tally.MustDecimal("0.1")},
		}, {
			name: "first microsecond after the earliest time",
			in: tally.Event{ID: idOf(7), Category: 1, Client: 1, ClientGroup: 1,
				Timestamp: date("1970-01-01T00:00:00.000001Z"), Value: tally.MustDecimal("1")},
			want: tally.Event{ID: idOf(7), Category: 1, Client: 1, ClientGroup: 1,
				Timestamp: date("1970-01-01T00:00:00.000001Z"), Value: tally.MustDecimal("1")},
		}}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				mustCreate(t, s, tt.in)
				got, err := s.Event(ctx, tt.in.ID)
				if err != nil {
					t.Fatalf("Event: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Event (-want +got):\n%s", diff)
				}
				if got.Timestamp.Location() != time.UTC {
					t.Errorf("timestamp location %v, want UTC", got.Timestamp.Location())
				}
			})
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s := newStore(t)
		first := tally.Event{ID: idOf(1), DeviceType: tally.DeviceDesktop, Category: 1, Client: 1, ClientGroup: 1,
			Timestamp: date("2026-03-01T10:00:00Z"), Valid: true, Value: tally.MustDecimal("1")}
		mustCreate(t, s, first)
		second := tally.Event{ID: idOf(1), DeviceType: tally.DeviceMobile, Category: 2, Client: 2, ClientGroup: 2,
			Timestamp: date("2026-03-05T10:00:00Z"), Value: tally.MustDecimal("100")}
		wantCode(t, "CreateEvent of a stored id", s.CreateEvent(ctx, second), tally.EConflict)
		got, err := s.Event(ctx, first.ID)
		if err != nil {
			t.Fatalf("Event: %v", err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("stored event changed (-want +got):\n%s", diff)
		}
		r := MustReport(t, s, tally.ReportQuery{})
		if diff := cmp.Diff([]string{"2026-03-01 desktop 1 1 1 true: 1 1"}, rowStrings(t, normalized(tally.ReportQuery{}), r.Rows)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		e := tally.Event{ID: idOf(1), Client: 1, ClientGroup: 1, Timestamp: date("2026-03-01T10:00:00Z"), Value: tally.MustDecimal("1")}
		mustCreate(t, s, e)
		_, err := s.Event(ctx, idOf(2))
		wantCode(t, "Event of an unknown id", err, tally.ENotFound)
		wantCode(t, "DeleteEvent of an unknown id", s.DeleteEvent(ctx, idOf(2)), tally.ENotFound)
		if err := s.DeleteEvent(ctx, e.ID); err != nil {
			t.Fatalf("DeleteEvent: %v", err)
		}
		_, err = s.Event(ctx, e.ID)
		wantCode(t, "Event after DeleteEvent", err, tally.ENotFound)
		wantCode(t, "second DeleteEvent", s.DeleteEvent(ctx, e.ID), tally.ENotFound)
		// The id is free again.
		mustCreate(t, s, e)
	})

	t.Run("DeleteLeavesOthers", func(t *testing.T) {
		s := newStore(t)
		a := tally.Event{ID: idOf(1), Client: 1, ClientGroup: 1, Timestamp: date("2026-03-01T10:00:00Z"), Value: tally.MustDecimal("1")}
		b := a
		b.ID, b.Value = idOf(2), tally.DecimalFromInt(2)
		mustCreate(t, s, a, b)
		if err := s.DeleteEvent(ctx, a.ID); err != nil {
			t.Fatalf("DeleteEvent: %v", err)
		}
		if _, err := s.Event(ctx, b.ID); err != nil {
			t.Errorf("Event of the other event: %v", err)
		}
		q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColClient}}
		r := MustReport(t, s, q)
		if diff := cmp.Diff([]string{"1: 1 2"}, rowStrings(t, normalized(q), r.Rows)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const writers, each = 4, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*each*2)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					e := tally.Event{ID: idOf(w*each + i), Client: int32(w), ClientGroup: 1,
						Timestamp: date("2026-03-01T10:00:00Z"), Value: tally.MustDecimal("1")}
					errs <- s.CreateEvent(ctx, e)
					_, err := s.Report(ctx, *normalized(tally.ReportQuery{}))
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent CreateEvent or Report: %v", err)
			}
		}
		r := MustReport(t, s, tally.ReportQuery{GroupBy: by(cClient)})
		if diff := cmp.Diff([]string{"0: 25 25", "1: 25 25", "2: 25 25", "3: 25 25"}, rowStrings(t, normalized(tally.ReportQuery{GroupBy: by(cClient)}), r.Rows)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		if err := newStore(t).Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func testCreateEvents(t *testing.T, newStore func(t *testing.T) tally.Store) {
	ctx := context.Background()
	ev := func(n int, value int64) tally.Event {
		return tally.Event{ID: idOf(n), DeviceType: tally.DeviceMobile, Category: 1, Client: 1, ClientGroup: 1,
			Timestamp: date("2026-03-01T10:00:00Z"), Value: tally.DecimalFromInt(value)}
	}
	tests := []struct {
		name   string
		stored []tally.Event
		batch  []tally.Event
		want   []bool
		sum    int64 // of every stored event afterwards
		count  int64
	}{
		{name: "empty", batch: []tally.Event{}, want: []bool{}},
		{name: "all new", batch: []tally.Event{ev(1, 1), ev(2, 2)}, want: []bool{true, true}, count: 2, sum: 3},
		{name: "already stored", stored: []tally.Event{ev(1, 1)}, batch: []tally.Event{ev(2, 2), ev(1, 4)},
			want: []bool{true, false}, count: 2, sum: 3},
		{name: "repeated in batch", batch: []tally.Event{ev(1, 1), ev(2, 2), ev(1, 4), ev(1, 8)},
			want: []bool{true, true, false, false}, count: 2, sum: 3},
		{name: "all duplicates", stored: []tally.Event{ev(1, 1)}, batch: []tally.Event{ev(1, 2), ev(1, 4)},
			want: []bool{false, false}, count: 1, sum: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			mustCreate(t, s, tt.stored...)
			got, err := s.CreateEvents(ctx, tt.batch)
			if err != nil {
				t.Fatalf("CreateEvents: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("inserted (-want +got):\n%s", diff)
			}
			r := MustReport(t, s, tally.ReportQuery{})
			if diff := cmp.Diff(tally.Totals{Count: tt.count, Sum: tally.DecimalFromInt(tt.sum)}, r.Totals); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
			// The first version of each id is the one kept.
			for i, e := range tt.batch {
				if !tt.want[i] {
					continue
				}
				got, err := s.Event(ctx, e.ID)
				if err != nil {
					t.Fatalf("Event: %v", err)
				}
				if diff := cmp.Diff(e, got); diff != "" {
					t.Errorf("stored event %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// normalized returns a normalized copy of q, for rendering rows.
func normalized(q tally.ReportQuery) *tally.ReportQuery {
	if err := q.Normalize(); err != nil {
		panic(err)
	}
	return &q
}
