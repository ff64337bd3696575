// Package cli holds what both programs' command lines do alike.
package cli

import (
	"encoding/json"
	"io"
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
