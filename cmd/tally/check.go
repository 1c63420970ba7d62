package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tallyhq/tally"
)

// maxListed bounds how many differing cells verify prints; the count is
// always printed.
const maxListed = 50

// check runs verify (repair false) or repair over the store that serve would
// open, with the same --store / TALLY_STORE setting.
func (c *cli) check(ctx context.Context, args []string, repair bool) error {
	name, about := "verify", "Recompute every rollup cell from the raw events and list the cells that differ (exit status 1 if any)."
	if repair {
		name, about = "repair", "Rebuild every rollup cell from the raw events."
	}
	fs := c.newFlagSet(name, about)
	// Serve's defaults but no lock wait: verify or repair beside a running
	// server is a mistake to report at once (repair would race the
	// server's writes), not to queue.
	cfg := DefaultConfig()
	cfg.LockWait = 0
	store := pick(cfg.settings(), "store")
	store[0].usage = "the store to check, as for serve: sqlite:`PATH`, a bare path or a mongodb:// URI"
	if _, err := parseSettings(fs, args, c.getenv, store); err != nil {
		return helpOK(err)
	}
	st, err := openStore(ctx, cfg, newLogger("text", c.stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	checker, ok := st.(tally.Checker)
	if !ok {
		return fmt.Errorf("%s: the store %q cannot be checked", name, cfg.Store)
	}
	start := time.Now()
	if repair {
		n, err := checker.Repair(ctx)
		if err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		fmt.Fprintf(c.stdout, "rebuilt %d cells from the raw events in %s\n", n, time.Since(start).Round(time.Millisecond))
		return nil
	}
	diffs, err := checker.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(diffs) == 0 {
		fmt.Fprintf(c.stdout, "all rollup cells match the raw events (%s)\n", time.Since(start).Round(time.Millisecond))
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "day\tdevice_type\tcategory\tclient\tclient_group\tvalid\tstored count\tstored sum\tevents count\tevents sum")
	for _, d := range diffs[:min(len(diffs), maxListed)] {
		k := d.Key
		cat := "null"
		if k.Category != tally.NoCategory {
			cat = fmt.Sprint(int64(k.Category))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%t\t%d\t%s\t%d\t%s\n",
			time.Unix(k.Bucket, 0).UTC().Format(time.DateOnly), k.DeviceType, cat, k.Client, k.ClientGroup, k.Valid,
			d.Stored.Count, d.Stored.Sum, d.Recomputed.Count, d.Recomputed.Sum)
	}
	tw.Flush()
	if len(diffs) > maxListed {
		fmt.Fprintf(c.stdout, "… and %d more\n", len(diffs)-maxListed)
	}
	return fmt.Errorf("verify: %d rollup cells differ from the raw events; run tally repair to rebuild them", len(diffs))
}
