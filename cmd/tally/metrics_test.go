package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// serve registers the store's own metrics beside the API's timing of its
// calls: one event stored is one commit of one caller and one event.
func TestServeStoreMetrics(t *testing.T) {
	env := map[string]string{"TALLY_STORE": "sqlite:" + filepath.Join(t.TempDir(), "tally.db"), "TALLY_SYNC": "normal"}
	base, _ := startServe(t, env, io.Discard)
	resp, err := http.Post(base+"/event", "application/json", strings.NewReader(`{"client": 1, "client_group": 1,
		"category": 2, "device_type": "mobile", "timestamp": "2026-11-02T13:45:10Z", "valid": true, "value": 4.5}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /event: %s", resp.Status)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tally_store_commit_callers_count 1\n",
		"tally_store_commit_callers_sum 1\n",
		"tally_store_commit_events_sum 1\n",
		"tally_store_commit_duration_seconds_count 1\n",
		`tally_store_call_duration_seconds_count{code="ok",method="CreateEvent"} 1` + "\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
