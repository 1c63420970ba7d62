//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package sqlite

import "os"

// lockSupported: on systems without flock(2) Open takes no lock and logs a
// warning; running one process per file is then the operator's duty.
const lockSupported = false

func tryLock(*os.File) (bool, error) { return true, nil }
