package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a local server's /healthz, for container HEALTHCHECKs in
// images that have no shell or curl: exit status 0 when it answers 200.
func (c *cli) healthcheck(ctx context.Context, args []string) error {
	fs := c.newFlagSet("healthcheck", "Exit 0 when the server at --url answers 200 on /healthz, 1 otherwise.")
	var base string
	cfg := DefaultConfig()
	addr := pick(cfg.settings(), "addr")
	addr[0].usage = "the server's listen `address`, as for serve"
	fs.StringVar(&base, "url", "", "the server's base `URL` (default: http://127.0.0.1 on the port of --addr)")
	if _, err := parseSettings(fs, args, c.getenv, addr); err != nil {
		return helpOK(err)
	}
	if base == "" {
		_, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return usageError{fmt.Errorf("--addr (TALLY_ADDR): %w", err)}
		}
		base = "http://" + net.JoinHostPort("127.0.0.1", port)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return usageError{err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", base, resp.Status)
	}
	return nil
}
