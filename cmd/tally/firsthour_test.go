package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
)

// runCLIEnv is runCLI with environment variables.
func runCLIEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, envOf(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

// keyServer answers 401 without "Authorization: Bearer key", as serve
// does with --api-keys, and body otherwise: with 201 to POST /event, whose
// answer is the event sent back, else 200. It counts authorized requests.
func keyServer(t *testing.T, key, contentType, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var ok atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message": "missing API key"}`))
			return
		}
		ok.Add(1)
		w.Header().Set("Content-Type", contentType)
		if r.Method == http.MethodPost && r.URL.Path == "/event" {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(sent)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &ok
}

const emptyReport = `{"pagination": {"total_count": 0, "offset": 0, "page_size": 100}, "rows": [], "totals": {"count": 0, "sum": 0, "mean": null}}`

func TestReportAPIKey(t *testing.T) {
	srv, ok := keyServer(t, "k3y", "application/json", emptyReport)
	if _, _, err := runCLI(t, "report", "--url", srv.URL); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without a key: %v, want the 401", err)
	}
	if _, _, err := runCLI(t, "report", "--url", srv.URL, "--api-key", "k3y"); err != nil {
		t.Errorf("--api-key: %v", err)
	}
	if _, _, err := runCLIEnv(t, map[string]string{"TALLY_API_KEY": "k3y"}, "report", "--url", srv.URL); err != nil {
		t.Errorf("TALLY_API_KEY: %v", err)
	}
	if _, _, err := runCLIEnv(t, map[string]string{"TALLY_API_KEY": "wrong"}, "report", "--url", srv.URL, "--api-key", "k3y"); err != nil {
		t.Errorf("--api-key over TALLY_API_KEY: %v", err)
	}
	if got := ok.Load(); got != 3 {
		t.Errorf("%d authorized requests, want 3", got)
	}
}

func TestGenAPIKey(t *testing.T) {
	srv, ok := keyServer(t, "k3y", "application/json", `{"accepted": 3, "duplicates": 0, "rejected": []}`)
	args := []string{"gen", "--days", "1", "--per-day", "3", "--end", "2026-11-03", "--url", srv.URL}
	if _, _, err := runCLI(t, args...); err == nil {
		t.Error("without a key: success, want the 401s")
	}
	if _, _, err := runCLI(t, append(args, "--api-key", "k3y")...); err != nil {
		t.Errorf("--api-key: %v", err)
	}
	if _, _, err := runCLIEnv(t, map[string]string{"TALLY_API_KEY": "k3y"}, append(args, "--batch", "3")...); err != nil {
		t.Errorf("TALLY_API_KEY, bulk: %v", err)
	}
	if got := ok.Load(); got != 4 {
		t.Errorf("%d authorized requests, want 3 single and 1 bulk", got)
	}
}

// TestReportAddr: without --url, report finds the server where
// TALLY_ADDR says serve listens.
func TestReportAddr(t *testing.T) {
	srv, _ := fakeServer(t, http.StatusOK, "application/json", emptyReport)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Host)
	for _, addr := range []string{":" + port, "127.0.0.1:" + port, "0.0.0.0:" + port} {
		if _, _, err := runCLIEnv(t, map[string]string{"TALLY_ADDR": addr}, "report"); err != nil {
			t.Errorf("TALLY_ADDR=%s: %v", addr, err)
		}
	}
	// --url wins.
	if _, _, err := runCLIEnv(t, map[string]string{"TALLY_ADDR": "127.0.0.1:1"}, "report", "--url", srv.URL); err != nil {
		t.Errorf("--url with another TALLY_ADDR: %v", err)
	}
	if _, _, err := runCLIEnv(t, map[string]string{"TALLY_ADDR": "no port"}, "report"); !isUsage(err) {
		t.Errorf("TALLY_ADDR without a port: %v, want a usage error", err)
	}
}

func isUsage(err error) bool { return errors.As(err, new(usageError)) }

func TestBaseURLOf(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"[::]:8080":      "http://127.0.0.1:8080",
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		"localhost:9000": "http://localhost:9000",
		"[::1]:9000":     "http://[::1]:9000",
		"10.1.2.3:80":    "http://10.1.2.3:80",
	} {
		got, err := baseURLOf(addr)
		if err != nil || got != want {
			t.Errorf("baseURLOf(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		stdout, _, err := runCLI(t, arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		// A test binary carries no VCS stamp: the main module is (devel).
		if !strings.HasPrefix(stdout, "tally (devel)") || !strings.HasSuffix(stdout, "\n") {
			t.Errorf("%s: %q, want tally (devel)…", arg, stdout)
		}
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tallyhq/tally", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "59f82d7c0123"},
			{Key: "vcs.time", Value: "2026-11-02T13:45:10Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(info), "tally v1.4.0, commit 59f82d7c0123 (modified), go1.26.8"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	info.Settings = info.Settings[:2]
	info.Main.Version = "(devel)"
	if got, want := versionLine(info), "tally (devel), commit 59f82d7c0123, go1.26.8"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	if got, want := versionLine(nil), "tally (unknown version)"; got != want {
		t.Errorf("versionLine(nil) = %q, want %q", got, want)
	}
}
