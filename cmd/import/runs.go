package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/cli"
	"github.com/tokenevents/tokenevents/pipeline"
	"github.com/tokenevents/tokenevents/sql/store"
)

var runsHelp = cli.Help{
	Usage: `usage: import runs [--last N] [--json] [--db URL]

Lists past imports, newest first, from import_runs: id, start, duration,
outcome, files and counts.`,
	Groups: []cli.Group{{Title: "Flags", Flags: []string{"last", "json", "db"}}},
	Examples: `  import runs --last 5
  import runs --json | jq '.[0].summary.rows_rejected'`,
	Environment: `  DATABASE_URL, PGHOST and the other PG* variables, as for import`,
}

// listRuns is `import runs`.
func listRuns(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("import runs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	last := fs.Int("last", 20, "list the last `N` runs")
	asJSON := fs.Bool("json", false, "print the runs as a JSON array")
	db := fs.String("db", "", "the database (as for import)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			runsHelp.Print(stdout, fs)
			return err
		}
		return tokenevents.UsageErrorf("%v (import runs -h lists the flags)", err)
	}
	if *last <= 0 {
		return tokenevents.UsageErrorf("--last %d: must be positive", *last)
	}
	target, err := store.Resolve(*db, os.Getenv)
	if err != nil {
		return err
	}
	s, err := store.Open(ctx, target, store.Options{MaxConns: 1, ApplicationName: "tokenevents-import"})
	if err != nil {
		return err
	}
	defer s.Close()
	runs, err := s.ImportRuns(ctx, *last)
	if err != nil {
		return err
	}
	if *asJSON {
		if runs == nil {
			runs = []tokenevents.ImportRun{}
		}
		return json.NewEncoder(stdout).Encode(runs)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "id\tstarted\tseconds\toutcome\tfiles\trows read\trejected\tevents new\tupdated\tunchanged\t")
	for _, r := range runs {
		var sum pipeline.Summary
		_ = json.Unmarshal(r.Summary, &sum) // null while running: zeros
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.ID, r.StartedAt.UTC().Format(time.RFC3339),
			cli.Seconds(r.StartedAt, r.FinishedAt), r.Outcome, sum.Files, sum.RowsRead, sum.RowsRejected, sum.EventsNew,
			sum.EventsUpdated, sum.EventsUnchanged)
	}
	return w.Flush()
}
