// Package cli holds what both programs' command lines do alike.
package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
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

// Group is a titled group of flags in the help text.
type Group struct {
	Title string
	Flags []string
}

// Help is a program's -h text: what it does, its flags in groups (any
// flag no group names comes last, under "Other"), examples and the
// environment variables it reads.
type Help struct {
	Usage       string // the usage lines and what the program does
	Groups      []Group
	Examples    string
	Environment string
}

// Print writes the help for fs to w.
func (h Help) Print(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, strings.TrimSpace(h.Usage))
	seen := map[string]bool{}
	printFlag := func(name string) {
		f := fs.Lookup(name)
		if f == nil || seen[name] {
			return
		}
		seen[name] = true
		arg, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(name) == 1 {
			dash = "-"
		}
		head := "  " + dash + name
		if arg != "" {
			head += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%-28s %s\n", head, usage)
	}
	for _, g := range h.Groups {
		fmt.Fprintf(w, "\n%s:\n", g.Title)
		for _, name := range g.Flags {
			printFlag(name)
		}
	}
	var other []string
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			other = append(other, f.Name)
		}
	})
	if len(other) > 0 {
		fmt.Fprintf(w, "\nOther:\n")
		for _, name := range other {
			printFlag(name)
		}
	}
	if h.Examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(h.Examples, "\n"))
	}
	if h.Environment != "" {
		fmt.Fprintf(w, "\nEnvironment:\n%s\n", strings.TrimRight(h.Environment, "\n"))
	}
}

// Seconds is a run's length for a listing, or "-" while it runs.
func Seconds(start time.Time, end *time.Time) string {
	if end == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", end.Sub(start).Seconds())
}
