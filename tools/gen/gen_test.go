package gen_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/tools/gen"
)

var now = time.Date(2026, 11, 3, 15, 4, 5, 0, time.FixedZone("CET", 3600))

func mustGenerate(tb testing.TB, cfg gen.Config) []tally.Event {
	tb.Helper()
	g, err := gen.New(cfg)
	if err != nil {
		tb.Fatalf("gen.New(%+v): %v", cfg, err)
	}
	events := make([]tally.Event, 0, g.Len())
	var e tally.Event
	for g.Next(&e) {
		events = append(events, e)
	}
	if len(events) != g.Len() {
		tb.Fatalf("generated %d events, Len() = %d", len(events), g.Len())
	}
	return events
}

func TestDeterminism(t *testing.T) {
	cfg := gen.Config{Days: 3, PerDay: 500, Seed: 42, Now: now}
	a := mustGenerate(t, cfg)
	b := mustGenerate(t, cfg)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different events (-first +second):\n%s", diff)
	}
	cfg.Seed = 43
	c := mustGenerate(t, cfg)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same != 0 {
		t.Errorf("seeds 42 and 43 share %d of %d events", same, len(a))
	}

	// Another number of days, same seed: new ids, so that both sets can be
	// posted to one server.
	cfg.Seed, cfg.Days = 42, 1
	ids := map[tally.ID]bool{}
	for _, e := range a {
		ids[e.ID] = true
	}
	for _, e := range mustGenerate(t, cfg) {
		if ids[e.ID] {
			t.Fatalf("3 days and 1 day from seed 42 share id %v", e.ID)
		}
	}
}

func TestDayRange(t *testing.T) {
	g, err := gen.New(gen.Config{Days: 3, PerDay: 200, Seed: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	wantStart := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)
	wantEnd := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	if !g.Start().Equal(wantStart) || !g.End().Equal(wantEnd) {
		t.Errorf("range = [%v, %v), want [%v, %v)", g.Start(), g.End(), wantStart, wantEnd)
	}
	perDay := map[string]int{}
	var e tally.Event
	for g.Next(&e) {
		if e.Timestamp.Before(wantStart) || !e.Timestamp.Before(wantEnd) {
			t.Fatalf("timestamp %v outside [%v, %v)", e.Timestamp, wantStart, wantEnd)
		}
		if e.Timestamp.Location() != time.UTC {
			t.Fatalf("timestamp %v not in UTC", e.Timestamp)
		}
		perDay[e.Timestamp.Format(time.DateOnly)]++
	}
	want := map[string]int{"2026-10-31": 200, "2026-11-01": 200, "2026-11-02": 200}
	if diff := cmp.Diff(want, perDay); diff != "" {
		t.Errorf("events per day (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]gen.Config{
		"negative days":    {Days: -1, PerDay: 1, Now: now},
		"negative per day": {Days: 1, PerDay: -1, Now: now},
		"no now":           {Days: 1, PerDay: 1},
		"before 1970":      {Days: 2, PerDay: 1, Now: time.Date(1970, 1, 2, 12, 0, 0, 0, time.UTC)},
		"after 9999":       {Days: 1, PerDay: 1, Now: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := gen.New(cfg); tally.ErrorCode(err) != tally.EInvalid {
				t.Errorf("gen.New(%+v) error = %v, want code %s", cfg, err, tally.EInvalid)
			}
		})
	}
}

func TestDistributions(t *testing.T) {
	events := mustGenerate(t, gen.Config{Days: 10, PerDay: 10_000, Seed: 7, Now: now})
	n := float64(len(events))

	devices := map[tally.DeviceType]int{}
	nullCategories, valid := 0, 0
	categories := map[tally.Category]bool{}
	groupOf := map[int32]int32{}
	groups := map[int32]bool{}
	ids := make(map[tally.ID]bool, len(events))
	for _, e := range events {
		devices[e.DeviceType]++
		if e.Category == tally.NoCategory {
			nullCategories++
		} else {
			categories[e.Category] = true
		}
		if e.Valid {
			valid++
		}
		if g, ok := groupOf[e.Client]; ok && g != e.ClientGroup {
			t.Fatalf("client %d in groups %d and %d", e.Client, g, e.ClientGroup)
		}
		groupOf[e.Client] = e.ClientGroup
		groups[e.ClientGroup] = true
		if m, _ := e.Value.Micros(); m < 0 || m > 100_000_000 || m%10_000 != 0 {
			t.Fatalf("value %v not in [0, 100] with 2 decimals", e.Value)
		}
		if ids[e.ID] {
			t.Fatalf("id %v generated twice", e.ID)
		}
		ids[e.ID] = true
		if err := e.Validate(); err != nil {
			t.Fatalf("generated an invalid event %+v: %v", e, err)
		}
		if s := e.ID.String(); s[14] != '4' || !containsByte("89ab", s[19]) {
			t.Fatalf("id %s is not a version 4 UUID", s)
		}
	}

	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s share = %.4f, want %.4f ± %.4f", name, got, want, tol)
		}
	}
	near("desktop", float64(devices[tally.DeviceDesktop])/n, 0.3, 0.01)
	near("mobile", float64(devices[tally.DeviceMobile])/n, 0.4, 0.01)
	near("tablet", float64(devices[tally.DeviceTablet])/n, 0.2, 0.01)
	near("null device", float64(devices[tally.DeviceNone])/n, 0.1, 0.01)
	near("null category", float64(nullCategories)/n, 1.0/33, 0.005)
	near("valid", float64(valid)/n, 0.8, 0.01)
	if len(categories) != gen.Categories {
		t.Errorf("%d distinct categories, want %d", len(categories), gen.Categories)
	}
	if len(groupOf) != gen.Clients {
		t.Errorf("%d distinct clients, want %d", len(groupOf), gen.Clients)
	}
	if len(groups) != gen.ClientGroups {
		t.Errorf("%d distinct client groups, want %d", len(groups), gen.ClientGroups)
	}
}

func containsByte(s string, b byte) bool {
	for i := range len(s) {
		if s[i] == b {
			return true
		}
	}
	return false
}
