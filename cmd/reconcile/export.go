package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/cli"
	"github.com/tokenevents/tokenevents/reconcile"
	"github.com/tokenevents/tokenevents/sql/store"
)

var exportHelp = cli.Help{
	Usage: `usage: reconcile export --report PATH [--account AID]... [--status S]

Writes the current aggregated status of every token (token_statuses) as
CSV, JSON Lines or Parquet (by the extension; - writes CSV to stdout),
streaming, in the diff report's columns: previous_status is empty and
as_of is the instant each status was computed for.`,
	Groups: []cli.Group{
		{Title: "What to export", Flags: []string{"report", "account", "status"}},
		{Title: "Database", Flags: []string{"db", "no-migrate", "retries", "lock-timeout"}},
	},
	Examples: `  reconcile export --report statuses.parquet
  reconcile export --account P00000001 --status OPT_OUT --report - | wc -l`,
	Environment: environment,
}

// runExport is `reconcile export`.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reconcile export")
	var c common
	c.registerDB(fs)
	var accounts multiFlag
	var status, report string
	fs.Var(&accounts, "account", "export account `AID` (repeatable; default every account)")
	fs.StringVar(&status, "status", "", "export only tokens with status `S`")
	fs.StringVar(&report, "report", "", "snapshot `PATH` (.csv, .jsonl, .parquet; - for CSV on stdout); required")
	if err := parse(fs, exportHelp, stdout, args); err != nil {
		return err
	}
	if report == "" {
		return tokenevents.UsageErrorf("--report PATH is required")
	}
	for _, a := range accounts {
		if !tokenevents.ValidAccountID(a) {
			return tokenevents.UsageErrorf("--account %q: must match ^[PT][0-9]{8}$", a)
		}
	}
	if status != "" && !tokenevents.ValidStatus(status) {
		return tokenevents.UsageErrorf("--status %q: must match ^[A-Z][A-Z0-9_]*$", status)
	}
	if len(accounts) == 0 {
		accounts = multiFlag{""}
	}
	var n int64
	err := writeReport(ctx, &c, report, stdout, func(s store.Store, w reconcile.ReportWriter) error {
		count := func(ch tokenevents.Change) error { n++; return w.Write(ch) }
		return reconcile.Stream(ctx, count, func(fn func(tokenevents.Change) error) error {
			for _, a := range accounts {
				if err := s.Snapshot(ctx, a, status, fn); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if report != "-" {
		fmt.Fprintf(stderr, "reconcile export: %d tokens written to %s\n", n, report)
	}
	return nil
}

// writeReport opens the report and the store, has fill write the rows, and
// completes the report, or removes it when anything failed.
func writeReport(ctx context.Context, c *common, report string, stdout io.Writer,
	fill func(store.Store, reconcile.ReportWriter) error) error {
	w, err := reconcile.NewReportWriter(report, stdout)
	if err != nil {
		return err
	}
	s, err := c.open(ctx, nil, 1)
	if err != nil {
		return errors.Join(err, w.Abort())
	}
	defer s.Close()
	if err := fill(s, w); err != nil {
		return errors.Join(err, w.Abort())
	}
	return w.Close()
}
