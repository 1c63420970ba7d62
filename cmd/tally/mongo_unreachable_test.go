package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestServeUnreachableMongoDB: a MongoDB that is not there fails serve
// within seconds with one line that names the host, never the password
// and never the driver's topology dump.
func TestServeUnreachableMongoDB(t *testing.T) {
	// A port that was free a moment ago: nothing answers there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	ln.Close()

	start := time.Now()
	_, stderr, err := runCLI(t, "serve", "--addr", "127.0.0.1:0",
		"--store", "mongodb://tally:s3cret@"+host+"/tally")
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("serve started without its store")
	}
	msg := err.Error()
	t.Logf("after %s: %s", elapsed.Round(time.Millisecond), msg)
	if elapsed > 15*time.Second {
		t.Errorf("took %s, want a few seconds", elapsed)
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "topology") {
		t.Errorf("error is not one line without the topology: %q", msg)
	}
	if !strings.Contains(msg, host) {
		t.Errorf("error %q does not name %s", msg, host)
	}
	if strings.Contains(msg+stderr, "s3cret") {
		t.Errorf("the password leaked: %q, stderr %q", msg, stderr)
	}
}
