// Command scenario drives a Tally server through the Go client that
// oapi-codegen generates from api/openapi.yaml (client.gen.go, written next
// to it by TestGeneratedClient), and prints what it sees, one line per
// answer, for the test to compare. It is not compiled with the module: it
// needs the generated code and the oapi-codegen runtime.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(url, key string) error {
	ctx := context.Background()
	bearer := WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	})
	c, err := NewClientWithResponses(url, bearer)
	if err != nil {
		return err
	}
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	idA := uuid.MustParse("00000000-0000-4000-8000-00000000000a")
	idB := uuid.MustParse("00000000-0000-4000-8000-00000000000b")
	desktop, mobile := DeviceTypeDesktop, DeviceTypeMobile
	seven := Category(7)

	// The value has more digits than a float32 keeps: json.Number sends it
	// as written.
	created, err := c.CreateEventWithResponse(ctx, EventInput{
		Id: &idA, DeviceType: &desktop, Client: 1, ClientGroup: 10,
		Timestamp: at("2026-11-02T10:00:00Z"), Valid: true, Value: "12345678.91",
	})
	if err != nil {
		return err
	}
	fmt.Printf("create %d", created.StatusCode())
	if e := created.JSON201; e != nil {
		fmt.Printf(" id=%s value=%s", e.Id, e.Value)
	}
	fmt.Println()

	got, err := c.GetEventWithResponse(ctx, idA)
	if err != nil {
		return err
	}
	fmt.Printf("get %d", got.StatusCode())
	if e := got.JSON200; e != nil {
		fmt.Printf(" device_type=%s category=%s timestamp=%s value=%s", str(e.DeviceType), str(e.Category), e.Timestamp.Format(time.RFC3339Nano), e.Value)
	}
	fmt.Println()

	bulk, err := c.CreateEventsWithResponse(ctx, CreateEventsJSONRequestBody{
		{Id: &idB, DeviceType: &mobile, Category: &seven, Client: 1, ClientGroup: 10,
			Timestamp: at("2026-11-02T11:00:00Z"), Valid: true, Value: "0.000001"},
		// 17 significant digits: no binary float holds them.
		{Client: 2, ClientGroup: 10, Timestamp: at("2026-11-03T00:00:00Z"), Value: "123456789012345.67"},
		{Id: &idA, Client: 1, ClientGroup: 10, Timestamp: at("2026-11-02T10:00:00Z"), Value: "1"},
		{Client: 3, ClientGroup: 10, Timestamp: at("1969-12-31T23:59:59Z"), Value: "1"},
	})
	if err != nil {
		return err
	}
	fmt.Printf("bulk %d", bulk.StatusCode())
	if b := bulk.JSON200; b != nil {
		fmt.Printf(" accepted=%d duplicates=%d rejected=", b.Accepted, b.Duplicates)
		for _, r := range b.Rejected {
			field, _, _ := strings.Cut(r.Message, ":")
			fmt.Printf("[%d %s]", r.Index, field)
		}
	}
	fmt.Println()

	// Lists of every kind, with null among the device types and categories.
	rep, err := c.GetReportWithResponse(ctx, &GetReportParams{
		GroupBy:     &GroupBy{DimensionCategory, DimensionDeviceType},
		OrderBy:     &OrderBy{"-sum"},
		Clients:     &Clients{1, 2},
		DeviceTypes: &DeviceTypes{"desktop", "null"},
		Categories:  &Categories{"null", "7"},
	})
	if err != nil {
		return err
	}
	printReport("report", rep)

	rep, err = c.GetReportWithResponse(ctx, &GetReportParams{
		GroupBy:    &GroupBy{DimensionValid},
		Categories: &Categories{"null"},
	})
	if err != nil {
		return err
	}
	printReport("report categories=null", rep)

	csv := GetReportParamsFormatCsv
	rep, err = c.GetReportWithResponse(ctx, &GetReportParams{GroupBy: &GroupBy{DimensionClient}, OrderBy: &OrderBy{"client"}, Format: &csv})
	if err != nil {
		return err
	}
	fmt.Printf("csv %d %s\n%s", rep.StatusCode(), rep.HTTPResponse.Header.Get("Content-Type"), rep.Body)

	del, err := c.DeleteEventWithResponse(ctx, idA)
	if err != nil {
		return err
	}
	fmt.Printf("delete %d\n", del.StatusCode())
	got, err = c.GetEventWithResponse(ctx, idA)
	if err != nil {
		return err
	}
	fmt.Printf("get %d", got.StatusCode())
	if e := got.JSON404; e != nil {
		fmt.Printf(" %s", e.Message)
	}
	fmt.Println()
	return nil
}

func printReport(name string, rep *GetReportResponse) {
	fmt.Printf("%s %d", name, rep.StatusCode())
	if r := rep.JSON200; r != nil {
		fmt.Printf(" total_count=%d totals=%d/%s/%s\n", r.Pagination.TotalCount, r.Totals.Count, r.Totals.Sum, str(r.Totals.Mean))
		for _, row := range r.Rows {
			fmt.Printf("  category=%s device_type=%s valid=%s count=%d sum=%s mean=%s\n",
				str(row.Category), str(row.DeviceType), str(row.Valid), row.Count, row.Sum, str(row.Mean))
		}
		return
	}
	fmt.Printf(" %s\n", rep.Body)
}

// str prints an optional value, null when absent.
func str[T any](p *T) string {
	if p == nil {
		return "null"
	}
	switch v := any(*p).(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(*p)
}
