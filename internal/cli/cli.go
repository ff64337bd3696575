// Package cli holds what both programs' command lines do alike.
package cli

import (
	"encoding/json"
	"io"
	"time"

	"github.com/tokenevents/tokenevents"
)

// WantsJSON reports whether a command line asked for --json, for a run
// whose flags could not all be parsed.
func WantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

// WriteFailure prints the one JSON object of a run that failed before it
// had a summary: {"outcome":"failed","error":…}. Errors never carry plain
// identifiers.
func WriteFailure(w io.Writer, err error) {
	_ = json.NewEncoder(w).Encode(map[string]string{"outcome": "failed", "error": err.Error()})
}

// ExitLocked is the exit code of a run that did not start because another
// run held the lock past --lock-timeout.
const ExitLocked = 4

// LockTimeout parses --lock-timeout: "" waits as long as it takes, "0"
// does not wait, else a Go duration ("30s", "10m").
func LockTimeout(s string) (timeout time.Duration, noWait bool, err error) {
	if s == "" {
		return tokenevents.WaitForever, false, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false, tokenevents.UsageErrorf("--lock-timeout %q: a duration such as 0, 30s or 10m", s)
	}
	return d, d == 0, nil
}
