package main

import (
	"fmt"
	"runtime/debug"

	"github.com/tallyhq/tally"
)

// version prints the module version and the commit this binary was built
// from, as the Go toolchain stamped them.
func (c *cli) version() error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	_, err := fmt.Fprintln(c.stdout, versionLine(info))
	return err
}

// versionLine words a build's identity: "tally v1.4.0, commit 59f82d7…
// (modified), go1.26.8". A binary built inside a checkout with go build is
// "(devel)" with its commit; go install module@version has the version and
// no commit; go run and tests have neither commit nor version.
func versionLine(info *debug.BuildInfo) string {
	if info == nil {
		return "tally (unknown version)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	line := "tally " + v
	if rev, modified := tally.Revision(info); rev != "" {
		line += ", commit " + rev
		if modified {
			line += " (modified)"
		}
	}
	if info.GoVersion != "" {
		line += ", " + info.GoVersion
	}
	return line
}
