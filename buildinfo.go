package tally

import "runtime/debug"

// Revision returns the VCS revision the Go toolchain stamped into info, and
// whether the tree had uncommitted changes; rev is "" when none was stamped
// (go run, tests, -buildvcs=false, go install module@version).
func Revision(info *debug.BuildInfo) (rev string, modified bool) {
	if info == nil {
		return "", false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified
}
