package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/tools/gen"
)

// newHandler is the real service on a temporary SQLite file.
func newHandler(t *testing.T, keys ...string) http.Handler {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tally.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	h, err := api.NewHandler(api.Config{Store: store, APIKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newClient(t *testing.T, h http.Handler, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://h/?a=b", "http://h/#x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) = nil error, want one", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "https://tally.example/", "http://h/prefix/"} {
		if _, err := client.New(u); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}

// TestEventRoundTrip: what the client sends is stored as it was, values
// exactly, and reads back the same; the values at the edges of the
// decimal's range and precision included.
func TestEventRoundTrip(t *testing.T) {
	c := newClient(t, newHandler(t))
	at := time.Date(2026, 11, 2, 13, 4, 5, 123456000, time.UTC)
	for _, v := range []string{"0", "0.1", "1e-6", "-0.000001", "47.25", "1e15", "-1e15", "999999999.999999"} {
		want := tally.Event{DeviceType: tally.DeviceTablet, Category: tally.CategoryOf(-5), Client: 1 << 30, ClientGroup: -1,
			Timestamp: at, Valid: true, Value: tally.MustDecimal(v)}
		created, err := c.CreateEvent(t.Context(), &want)
		if err != nil {
			t.Fatalf("CreateEvent(%s): %v", v, err)
		}
		got, err := c.GetEvent(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("GetEvent: %v", err)
		}
		for name, e := range map[string]tally.Event{"created": created, "read": got} {
			if diff := cmp.Diff(want, e); diff != "" {
				t.Errorf("value %s, %s (-want +got):\n%s", v, name, diff)
			}
		}
	}
}

// TestGeneratedRoundTrip: the generator's events, in bulk, read back as
// they were sent, whatever their shape (nulls, whole seconds, cents).
func TestGeneratedRoundTrip(t *testing.T) {
	c := newClient(t, newHandler(t))
	g, err := gen.New(gen.Config{Days: 2, PerDay: 100, Seed: 3, Now: time.Date(2026, 11, 3, 15, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var events []tally.Event
	for e := (tally.Event{}); g.Next(&e); {
		events = append(events, e)
	}
	if res, err := c.CreateEvents(t.Context(), events); err != nil || res.Accepted != len(events) {
		t.Fatalf("CreateEvents: %+v, %v", res, err)
	}
	for _, want := range events {
		got, err := c.GetEvent(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("read back (-want +got):\n%s", diff)
		}
	}
}

func TestDeleteEvent(t *testing.T) {
	c := newClient(t, newHandler(t))
	e := tally.Event{Client: 1, ClientGroup: 1, Timestamp: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Category: tally.NoCategory}
	if _, err := c.CreateEvent(t.Context(), &e); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteEvent(t.Context(), e.ID); err != nil {
		t.Fatalf("DeleteEvent: %v", err)
	}
	for name, err := range map[string]error{
		"delete again": c.DeleteEvent(t.Context(), e.ID),
		"get":          func() error { _, err := c.GetEvent(t.Context(), e.ID); return err }(),
	} {
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
			t.Errorf("%s: %v, want a 404 *client.Error", name, err)
		}
	}
}

func TestErrorFields(t *testing.T) {
	c := newClient(t, newHandler(t))
	_, err := c.Report(t.Context(), &client.Query{GroupBy: []tally.Column{tally.ColValid}, OrderBy: []tally.Order{{Column: tally.ColClient}}})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		t.Fatalf("error = %v, want a 400 *client.Error", err)
	}
	if len(ce.Fields) == 0 || ce.Fields[0].Field != "order_by" || !strings.Contains(ce.Message, "order_by") {
		t.Errorf("error = %+v, want the message and a field naming order_by", ce)
	}
}

func TestErrorNotJSON(t *testing.T) {
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway, says the proxy", http.StatusBadGateway)
	}), client.WithRetries(0, 0))
	_, err := c.GetEvent(t.Context(), tally.NewID())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadGateway || ce.Message != "bad gateway, says the proxy" {
		t.Errorf("error = %#v, want status 502 and the body as the message", err)
	}
}

// lossy stores every batch through the real handler, then loses the
// answer of the first ones: a 503 in its place, or a connection cut
// before any answer. It records every batch it got; other requests pass.
type lossy struct {
	h    http.Handler
	cut  bool // cut the connection rather than answer 503
	lose int  // answers left to lose

	mu      sync.Mutex
	batches []string // the bodies as received
}

func (l *lossy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		l.h.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.batches = append(l.batches, string(body))
	lose := l.lose > 0
	l.lose--
	l.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if !lose {
		l.h.ServeHTTP(w, r)
		return
	}
	l.h.ServeHTTP(httptest.NewRecorder(), r) // stored, answer lost
	if l.cut {
		panic(http.ErrAbortHandler)
	}
	http.Error(w, `{"message":"store unavailable; the write may have been applied"}`, http.StatusServiceUnavailable)
}

func TestCreateEventsResendsWhenOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cut     bool
		lose    int
		retries int
		wantErr int // status of the error; -1 any error; 0 none
		sends   int
	}{
		{name: "503 then 200", lose: 1, retries: 2, sends: 2},
		{name: "connection cut then 200", cut: true, lose: 1, retries: 2, sends: 2},
		{name: "every answer lost", lose: 5, retries: 2, wantErr: http.StatusServiceUnavailable, sends: 3},
		{name: "no retries", lose: 1, retries: 0, wantErr: http.StatusServiceUnavailable, sends: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lossy{h: newHandler(t), cut: tc.cut, lose: tc.lose}
			c := newClient(t, l, client.WithRetries(tc.retries, time.Millisecond))
			at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
			events := []tally.Event{
				{Client: 1, ClientGroup: 1, Timestamp: at, Value: tally.MustDecimal("1.5")},
				{Client: 2, ClientGroup: 1, Timestamp: at, Value: tally.MustDecimal("2.25")},
			}
			res, err := c.CreateEvents(t.Context(), events)
			var ce *client.Error
			switch {
			case tc.wantErr == 0 && err != nil:
				t.Fatalf("CreateEvents: %v", err)
			case tc.wantErr > 0 && (!errors.As(err, &ce) || ce.Status != tc.wantErr):
				t.Fatalf("CreateEvents: %v, want status %d", err, tc.wantErr)
			}
			if len(l.batches) != tc.sends {
				t.Fatalf("sent %d times, want %d", len(l.batches), tc.sends)
			}
			for i, b := range l.batches {
				if b != l.batches[0] {
					t.Errorf("send %d differs from the first:\n%s\n%s", i, b, l.batches[0])
				}
			}
			if tc.wantErr == 0 {
				if want := (client.BulkResult{Duplicates: 2}); !cmp.Equal(res, want) {
					t.Errorf("result %+v, want %+v: the lost attempt stored both", res, want)
				}
			}
			// Stored once, whatever was resent.
			got, err := c.Report(t.Context(), &client.Query{GroupBy: []tally.Column{tally.ColValid}})
			if err != nil {
				t.Fatal(err)
			}
			if want := (tally.Totals{Count: 2, Sum: tally.MustDecimal("3.75")}); *got.Totals != want {
				t.Errorf("totals %+v, want %+v", *got.Totals, want)
			}
		})
	}
}

func TestCreateEventsNoResendOn4xx(t *testing.T) {
	var sends int
	var mu sync.Mutex
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sends++
		mu.Unlock()
		http.Error(w, `{"message":"body: too large"}`, http.StatusRequestEntityTooLarge)
	}))
	_, err := c.CreateEvents(t.Context(), []tally.Event{{Timestamp: time.Now()}})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusRequestEntityTooLarge || ce.Message != "body: too large" {
		t.Errorf("error = %v, want the 413", err)
	}
	if sends != 1 {
		t.Errorf("sent %d times, want once", sends)
	}
}

// TestContextEnds: a call returns when its context ends, with the
// context's error, even when the server never answers.
func TestContextEnds(t *testing.T) {
	got := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(got)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-got; cancel() }()
	_, err := c.CreateEvents(ctx, []tally.Event{{Timestamp: time.Now()}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestAPIKeySent(t *testing.T) {
	h := newHandler(t, "k1")
	e := tally.Event{Client: 1, ClientGroup: 1, Timestamp: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		key  string
		want int
	}{{"", http.StatusUnauthorized}, {"nope", http.StatusForbidden}, {"k1", 0}} {
		var opts []client.Option
		if tc.key != "" {
			opts = append(opts, client.WithAPIKey(tc.key))
		}
		_, err := newClient(t, h, opts...).CreateEvents(t.Context(), []tally.Event{e})
		var ce *client.Error
		if tc.want == 0 && err != nil || tc.want != 0 && (!errors.As(err, &ce) || ce.Status != tc.want) {
			t.Errorf("key %q: error %v, want status %d", tc.key, err, tc.want)
		}
	}
}

func TestQueryValues(t *testing.T) {
	valid := false
	for _, tc := range []struct {
		name string
		q    client.Query
		want url.Values
	}{
		{"zero", client.Query{}, url.Values{}},
		{"every field", client.Query{
			GroupBy:      []tally.Column{tally.ColDate, tally.ColCategory},
			OrderBy:      []tally.Order{{Column: tally.ColDate, Desc: true}, {Column: tally.ColMean}},
			Clients:      []int32{1, -2},
			ClientGroups: []int32{3},
			DeviceTypes:  []tally.DeviceType{tally.DeviceNone, tally.DeviceMobile},
			Categories:   []tally.Category{tally.NoCategory, tally.CategoryOf(0)},
			Valid:        &valid,
			StartDate:    time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			EndDate:      time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
			Granularity:  tally.Hour,
			TZ:           "Europe/Berlin",
			Compare:      tally.PreviousYear,
			Fill:         true,
			Offset:       5,
			Limit:        10,
		}, url.Values{
			"group_by": {"date category"}, "order_by": {"-date mean"}, "clients": {"1 -2"}, "client_groups": {"3"},
			"device_types": {"null mobile"}, "categories": {"null 0"}, "valid": {"false"},
			"start_date": {"2026-11-01"}, "end_date": {"2026-12-01"}, "granularity": {"hour"}, "tz": {"Europe/Berlin"},
			"compare": {"previous_year"}, "fill": {"zero"}, "offset": {"5"}, "limit": {"10"},
		}},
		{"date range", client.Query{DateRange: tally.DateRange{Kind: tally.LastDays, Days: 7}}, url.Values{"date_range": {"7d"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.q.Values()); diff != "" {
				t.Errorf("Values (-want +got):\n%s", diff)
			}
		})
	}
}
