package load_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/tools/load"
)

// TestPick checks that Pick gives each operation exactly as many of the
// values below Total as its weight, so a uniform draw follows the mix.
func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name string
		mix  load.Mix
		want map[load.Op]int
	}{
		{"default", load.DefaultMix, map[load.Op]int{
			load.OpCreate: 55, load.OpBulk: 10, load.OpDelete: 10, load.OpReport: 20, load.OpGet: 5}},
		{"reports only", load.Mix{Report: 3}, map[load.Op]int{load.OpReport: 3}},
		{"zero weights are never picked", load.Mix{Create: 1, Get: 2}, map[load.Op]int{load.OpCreate: 1, load.OpGet: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[load.Op]int{}
			for n := range tc.mix.Total() {
				got[tc.mix.Pick(n)]++
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("picks per operation (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPickOrder(t *testing.T) {
	m := load.Mix{Create: 2, Bulk: 1, Delete: 1, Report: 1, Get: 1}
	var got []load.Op
	for n := range m.Total() {
		got = append(got, m.Pick(n))
	}
	want := []load.Op{load.OpCreate, load.OpCreate, load.OpBulk, load.OpDelete, load.OpReport, load.OpGet}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Pick(0..%d) (-want +got):\n%s", m.Total()-1, diff)
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want load.Mix
	}{
		{"create=55,bulk=10,delete=10,report=20,get=5", load.DefaultMix},
		{"report=1", load.Mix{Report: 1}},
		{" get=3 , create=1", load.Mix{Create: 1, Get: 3}},
		{load.DefaultMix.String(), load.DefaultMix},
	} {
		got, err := load.ParseMix(tc.in)
		if err != nil {
			t.Errorf("ParseMix(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseMix(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseMixErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"create",
		"create=x",
		"create=-1,report=5",
		"create=0,report=0",
		"upsert=3",
		"create=1,create=2",
		"create=1;report=2",
	} {
		if m, err := load.ParseMix(in); err == nil {
			t.Errorf("ParseMix(%q) = %+v, want an error", in, m)
		}
	}
}
