package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/cli"
)

var runsHelp = cli.Help{
	Usage: `usage: reconcile runs [--last N] [--json] [--db URL]

Lists past reconciles, newest first, from reconcile_runs: id, start,
duration, outcome, as-of, accounts, full or incremental, tokens examined and
changed, and the changes per transition.`,
	Groups:      []cli.Group{{Title: "Flags", Flags: []string{"last", "json"}}, {Title: "Database", Flags: []string{"db", "no-migrate", "retries", "lock-timeout"}}},
	Examples:    `  reconcile runs --last 7`,
	Environment: environment,
}

// listRuns is `reconcile runs`.
func listRuns(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("reconcile runs")
	var c common
	c.registerDB(fs)
	last := fs.Int("last", 20, "list the last `N` runs")
	asJSON := fs.Bool("json", false, "print the runs as a JSON array")
	if err := parse(fs, runsHelp, stdout, args); err != nil {
		return err
	}
	if *last <= 0 {
		return tokenevents.UsageErrorf("--last %d: must be positive", *last)
	}
	s, err := c.open(ctx, nil, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	runs, err := s.ReconcileRuns(ctx, *last)
	if err != nil {
		return err
	}
	if *asJSON {
		if runs == nil {
			runs = []tokenevents.ReconcileRun{}
		}
		return json.NewEncoder(stdout).Encode(runs)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "id\tstarted\tseconds\toutcome\tas of\tkind\taccounts\texamined\tchanged\ttransitions")
	for _, r := range runs {
		kind := "incremental"
		if r.Full {
			kind = "full"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.StartedAt.UTC().Format(time.RFC3339), cli.Seconds(r.StartedAt, r.FinishedAt), r.Outcome,
			r.AsOf.UTC().Format(time.RFC3339), kind, strings.Join(r.Accounts, ","), r.Examined, r.Changed, transitions(r.Transitions))
	}
	return w.Flush()
}

func transitions(t map[string]int64) string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, t[k])
	}
	return strings.Join(parts, ", ")
}
