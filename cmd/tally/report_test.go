package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeServer answers every request with status and body and sends the URL
// of each request it got on the returned channel. It stands for the
// server's side of the contract only.
func fakeServer(t *testing.T, status int, contentType, body string) (*httptest.Server, <-chan *url.URL) {
	t.Helper()
	urls := make(chan *url.URL, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urls <- r.URL
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, urls
}

// runCLI runs the command line in-process and returns its output.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, envOf(nil), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestReportTable(t *testing.T) {
	const answer = `{
	  "pagination": {"total_count": 3, "offset": 1, "page_size": 2},
	  "rows": [
	    {"day": "2026-11-02", "device_type": "desktop", "category": null, "count": 17, "sum": 803.5, "mean": 47.26470588235294},
	    {"day": "2026-11-02", "device_type": null, "category": 12, "count": 1000, "sum": 50001.33, "mean": 50.00133}
	  ],
	  "totals": {"count": 1100, "sum": 55000, "mean": 50}
	}`
	srv, urls := fakeServer(t, http.StatusOK, "application/json", answer)
	stdout, _, err := runCLI(t, "report", "--url", srv.URL+"/", "--group-by", "date device_type category",
		"--order-by=-count", "--valid", "true", "--offset", "1", "--limit", "2", "--tz", "Europe/Paris")
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	want := `day         device_type  category  count  sum       mean
2026-11-02  desktop      null      17     803.5     47.26
2026-11-02  null         12        1000   50001.33  50.00
rows 2-3 of 3; totals: count 1100, sum 55000, mean 50.00
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	u := <-urls
	if u.Path != "/report" {
		t.Errorf("path = %q, want /report", u.Path)
	}
	wantQuery := url.Values{"group_by": {"date device_type category"}, "order_by": {"-count"}, "valid": {"true"},
		"offset": {"1"}, "limit": {"2"}, "tz": {"Europe/Paris"}}
	if diff := cmp.Diff(wantQuery, u.Query()); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
}

func TestReportEmptyWithoutTotals(t *testing.T) {
	// An old server has no totals; the table then has no header either.
	srv, _ := fakeServer(t, http.StatusOK, "application/json",
		`{"pagination": {"total_count": 0, "offset": 0, "page_size": 100}, "rows": []}`)
	stdout, _, err := runCLI(t, "report", "--url", srv.URL)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if want := "no rows at offset 0 of 0\n"; stdout != want {
		t.Errorf("output = %q, want %q", stdout, want)
	}
}

func TestReportCSV(t *testing.T) {
	const csv = "client,count,sum,mean\n1,2,3.5,1.75\n"
	srv, urls := fakeServer(t, http.StatusOK, "text/csv; charset=utf-8", csv)
	stdout, _, err := runCLI(t, "report", "--url", srv.URL, "--csv", "--group-by", "client")
	if err != nil {
		t.Fatalf("report --csv: %v", err)
	}
	if stdout != csv {
		t.Errorf("output = %q, want the body %q", stdout, csv)
	}
	if got := (<-urls).Query().Get("format"); got != "csv" {
		t.Errorf("format = %q, want csv", got)
	}
}

func TestReportServerError(t *testing.T) {
	srv, _ := fakeServer(t, http.StatusBadRequest, "application/json", `{"message": "order_by: \"client\" is not in group_by"}`)
	stdout, _, err := runCLI(t, "report", "--url", srv.URL, "--order-by", "client", "--group-by", "valid")
	if err == nil || !strings.Contains(err.Error(), `order_by: "client" is not in group_by`) || !strings.Contains(err.Error(), "400") {
		t.Errorf("error = %v, want the status and the server's message", err)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
}

func TestReportUsage(t *testing.T) {
	_, _, err := runCLI(t, "report", "--url", "ftp://x")
	var u usageError
	if !errors.As(err, &u) {
		t.Errorf("error = %v, want a usage error", err)
	}
	if _, _, err := runCLI(t, "report", "-h"); err != nil {
		t.Errorf("report -h: %v, want success", err)
	}
}

func TestReportCompare(t *testing.T) {
	const answer = `{
	  "pagination": {"total_count": 2, "offset": 0, "page_size": 100},
	  "rows": [
	    {"day": "2026-11-01", "count": 2, "sum": 3.5, "mean": 1.75, "previous": {"count": 1, "sum": 2, "mean": 2}},
	    {"day": "2026-11-02", "count": 0, "sum": 0, "mean": null, "previous": {"count": 0, "sum": 0, "mean": null}}
	  ],
	  "totals": {"count": 2, "sum": 3.5, "mean": 1.75},
	  "comparison": {"start_date": "2026-10-30", "end_date": "2026-11-01", "totals": {"count": 1, "sum": 2, "mean": 2}}
	}`
	srv, urls := fakeServer(t, http.StatusOK, "application/json", answer)
	stdout, _, err := runCLI(t, "report", "--url", srv.URL, "--group-by", "date",
		"--date-range", "7d", "--compare", "previous_period", "--fill", "zero")
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	want := `day         count  sum  mean  previous_count  previous_sum  previous_mean
2026-11-01  2      3.5  1.75  1               2             2.00
2026-11-02  0      0    null  0               0             null
rows 1-2 of 2; totals: count 2, sum 3.5, mean 1.75; previous [2026-10-30, 2026-11-01): count 1, sum 2, mean 2.00
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	wantQuery := url.Values{"group_by": {"date"}, "date_range": {"7d"}, "compare": {"previous_period"}, "fill": {"zero"}}
	if diff := cmp.Diff(wantQuery, (<-urls).Query()); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
}

func TestReportFlagErrors(t *testing.T) {
	srv, urls := fakeServer(t, http.StatusOK, "application/json", `{}`)
	for _, args := range [][]string{
		{"--group-by", "date,count"},
		{"--order-by", "-nope"},
		{"--clients", "1,x"},
		{"--device-types", "phone"},
		{"--categories", "null 2147483648"},
		{"--valid", "yes"},
		{"--start-date", "2026-11-31"},
		{"--granularity", "minute"},
		{"--date-range", "3d"},
		{"--compare", "last_week"},
		{"--fill", "null"},
		{"--limit", "ten"},
	} {
		_, _, err := runCLI(t, append([]string{"report", "--url", srv.URL}, args...)...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("report %s: %v, want a usage error naming the flag", strings.Join(args, " "), err)
		}
	}
	if len(urls) != 0 {
		t.Errorf("%d requests sent, want none", len(urls))
	}
}
