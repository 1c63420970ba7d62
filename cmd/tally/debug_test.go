package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestDebugMuxHidesCmdline checks that the debug listener does not print
// the command line, which holds --api-keys and store passwords, while the
// profiles stay available.
func TestDebugMuxHidesCmdline(t *testing.T) {
	srv := httptest.NewServer(debugMux())
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	for _, path := range []string{"/debug/pprof/cmdline", "/debug/pprof/cmdline?debug=1"} {
		status, body := get(path)
		if status == http.StatusOK || strings.Contains(body, os.Args[0]) {
			t.Errorf("%s: %d %.200q", path, status, body)
		}
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		if status, body := get(path); status != http.StatusOK {
			t.Errorf("%s: %d %.200q", path, status, body)
		}
	}
}
