// Package version tells which build of the programs is running, from the
// build information Go records in every binary (module version, and the
// commit and its time when built from a checkout).
package version

import (
	"fmt"
	"runtime/debug"
)

// String is the --version line of program.
func String(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (tokenevents) version unknown"
	}
	v := bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	out := fmt.Sprintf("%s (tokenevents) %s", program, v)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += fmt.Sprintf(" (commit %s %s%s)", rev, at, dirty)
	}
	return out + ", " + bi.GoVersion
}
