package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/cli"
	"github.com/tokenevents/tokenevents/reconcile"
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
	w, err := reconcile.NewReportWriter(report, stdout)
	if err != nil {
		return err
	}
	s, err := c.open(ctx, nil, 1)
	if err != nil {
		return errors.Join(err, w.Abort())
	}
	defer s.Close()
	if len(accounts) == 0 {
		accounts = multiFlag{""}
	}
	var n int64
	count := func(ch tokenevents.Change) error { n++; return w.Write(ch) }
	for _, a := range accounts {
		if err := s.Snapshot(ctx, a, status, count); err != nil {
			return errors.Join(err, w.Abort())
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if report != "-" {
		fmt.Fprintf(stderr, "reconcile export: %d tokens written to %s\n", n, report)
	}
	return nil
}
