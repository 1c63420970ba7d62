package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/sqlite"
)

// today is the day the examples' server answers on.
var today = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// startServer runs the real service on a temporary SQLite file for an
// example, and returns its URL and what stops it. An example has no
// testing.T to clean up after it.
func startServer(keys ...string) (url string, stop func()) {
	dir, err := os.MkdirTemp("", "tally-client-example-")
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "tally.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := api.NewHandler(api.Config{Store: store, APIKeys: keys, Now: func() time.Time { return today }})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	return srv.URL, func() {
		srv.Close()
		_ = store.Close()
		_ = os.RemoveAll(dir)
	}
}

// startClient is startServer with a client of it.
func startClient() (*client.Client, func()) {
	base, stop := startServer()
	c, err := client.New(base)
	if err != nil {
		log.Fatal(err)
	}
	return c, stop
}

func mustID(s string) tally.ID {
	id, err := tally.ParseID(s)
	if err != nil {
		log.Fatal(err)
	}
	return id
}

func Example() {
	base, stop := startServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(base)
	if err != nil {
		log.Fatal(err)
	}
	e := tally.Event{
		ID:          mustID("0f8fad5b-d9cb-469f-a165-70867728950e"),
		DeviceType:  tally.DeviceMobile,
		Category:    tally.CategoryOf(3),
		Client:      412,
		ClientGroup: 7,
		Timestamp:   time.Date(2026, 11, 2, 13, 45, 10, 0, time.FixedZone("CET", 3600)),
		Valid:       true,
		Value:       tally.MustDecimal("47.5"),
	}
	if _, err := c.CreateEvent(ctx, &e); err != nil {
		log.Fatal(err)
	}
	got, err := c.GetEvent(ctx, e.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.ID, got.DeviceType, got.Timestamp, got.Value)
	// Output: 0f8fad5b-d9cb-469f-a165-70867728950e mobile 2026-11-02 12:45:10 +0000 UTC 47.5
}

func ExampleClient_CreateEvents() {
	base, stop := startServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(base)
	if err != nil {
		log.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	events := []tally.Event{
		{Client: 1, ClientGroup: 1, Timestamp: at, Valid: true, Value: tally.MustDecimal("0.1")},
		{Client: 2, ClientGroup: 1, Timestamp: at, Valid: true, Value: tally.MustDecimal("0.2")},
		// The server rejects this one and stores the others.
		{Client: 3, ClientGroup: 1, Timestamp: at, Valid: true, Value: tally.MustDecimal("2e15")},
	}
	res, err := c.CreateEvents(ctx, events)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("accepted %d, duplicates %d\n", res.Accepted, res.Duplicates)
	for _, r := range res.Rejected {
		fmt.Printf("rejected #%d: %s\n", r.Index, r.Message)
	}

	// The events got ids before they were sent: sending them again
	// stores nothing twice.
	res, err = c.CreateEvents(ctx, events[:2])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("again: accepted %d, duplicates %d\n", res.Accepted, res.Duplicates)
	// Output:
	// accepted 2, duplicates 0
	// rejected #2: value: must be a number between -1e15 and 1e15
	// again: accepted 0, duplicates 2
}

// createSample stores a few events of November 2026 for the report examples.
func createSample(ctx context.Context, c *client.Client) {
	var events []tally.Event
	for i, v := range []string{"0.1", "0.2", "19.99", "1e-7", "5"} {
		events = append(events, tally.Event{
			DeviceType:  []tally.DeviceType{tally.DeviceDesktop, tally.DeviceMobile}[i%2],
			Category:    tally.NoCategory,
			Client:      int32(1 + i%2),
			ClientGroup: 1,
			Timestamp:   time.Date(2026, 11, 2+i, 10, 0, 0, 0, time.UTC),
			Valid:       true,
			Value:       tally.MustDecimal(v),
		})
	}
	if _, err := c.CreateEvents(ctx, events); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Report() {
	c, stop := startClient()
	defer stop()
	ctx := context.Background()
	createSample(ctx, c)

	// Sums are exact decimals: 0.1 + 19.99 + 1e-7 (rounded to six
	// fractional digits on the way in, so 0) is 20.09.
	rep, err := c.Report(ctx, &client.Query{
		GroupBy: []tally.Column{tally.ColDeviceType},
		OrderBy: []tally.Order{{Column: tally.ColSum, Desc: true}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rep.Rows {
		mean, _ := r.Mean()
		fmt.Printf("%s: count %d, sum %s, mean %.4f\n", r.DeviceType, r.Count, r.Sum, mean)
	}
	fmt.Printf("totals: count %d, sum %s; %d rows\n", rep.Totals.Count, rep.Totals.Sum, rep.TotalCount)
	// Output:
	// desktop: count 3, sum 25.09, mean 8.3633
	// mobile: count 2, sum 0.2, mean 0.1000
	// totals: count 5, sum 25.29; 2 rows
}

func ExampleQuery_compare() {
	c, stop := startClient()
	defer stop()
	ctx := context.Background()
	createSample(ctx, c)

	// Days 4 to 7 November, every day listed (fill), each beside the same
	// position of the four days before.
	rep, err := c.Report(ctx, &client.Query{
		GroupBy:   []tally.Column{tally.ColDate},
		StartDate: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC),
		EndDate:   time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC),
		Fill:      true,
		Compare:   tally.PreviousPeriod,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rep.Rows {
		fmt.Printf("%s: count %d, sum %s; before: count %d, sum %s\n", r.Date, r.Count, r.Sum, r.Previous.Count, r.Previous.Sum)
	}
	p := rep.Comparison
	fmt.Printf("[%s, %s): sum %s\n", p.StartDate, p.EndDate, p.Totals.Sum)
	// Output:
	// 2026-11-04: count 1, sum 19.99; before: count 0, sum 0
	// 2026-11-05: count 1, sum 0; before: count 0, sum 0
	// 2026-11-06: count 1, sum 5; before: count 1, sum 0.1
	// 2026-11-07: count 0, sum 0; before: count 1, sum 0.2
	// [2026-10-31, 2026-11-04): sum 0.3
}

func ExampleClient_ReportCSV() {
	c, stop := startClient()
	defer stop()
	ctx := context.Background()
	createSample(ctx, c)

	csv, err := c.ReportCSV(ctx, &client.Query{GroupBy: []tally.Column{tally.ColClient, tally.ColCategory}})
	if err != nil {
		log.Fatal(err)
	}
	defer csv.Close()
	if _, err := io.Copy(os.Stdout, csv); err != nil {
		log.Fatal(err)
	}
	// Output:
	// client,category,count,sum,mean
	// 1,,3,25.09,8.363333333333333
	// 2,,2,0.2,0.1
}

func ExampleError() {
	c, stop := startClient()
	defer stop()
	_, err := c.GetEvent(context.Background(), mustID("0f8fad5b-d9cb-469f-a165-70867728950e"))
	var e *client.Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		fmt.Println("not found:", e.Message)
	}
	// Output: not found: event 0f8fad5b-d9cb-469f-a165-70867728950e not found
}

func ExampleWithAPIKey() {
	base, stop := startServer("s3cret")
	defer stop()
	ctx := context.Background()
	e := tally.Event{Client: 1, ClientGroup: 1, Timestamp: today, Valid: true}

	anonymous, err := client.New(base)
	if err != nil {
		log.Fatal(err)
	}
	_, err = anonymous.CreateEvent(ctx, &e)
	var ae *client.Error
	if errors.As(err, &ae) {
		fmt.Println("without a key:", ae.Status)
	}

	c, err := client.New(base, client.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreateEvent(ctx, &e); err != nil {
		log.Fatal(err)
	}
	fmt.Println("with the key: created")
	// Output:
	// without a key: 401
	// with the key: created
}
