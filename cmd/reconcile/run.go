package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/hashing"
	"github.com/tokenevents/tokenevents/internal/cli"
	"github.com/tokenevents/tokenevents/internal/progress"
	"github.com/tokenevents/tokenevents/internal/version"
	"github.com/tokenevents/tokenevents/pipeline"
	"github.com/tokenevents/tokenevents/reconcile"
	"github.com/tokenevents/tokenevents/sql/postgres"
	"github.com/tokenevents/tokenevents/sql/store"
)

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitLocked = cli.ExitLocked
)

// help and lookupHelp are -h: on stdout, flags grouped, with examples and
// the environment.
var (
	help = cli.Help{
		Usage: `usage: reconcile [flags]
       reconcile lookup --account AID (--email X | --phone X | --token-type T --token-value V) [--as-of TIME]
       reconcile runs [--last N] [--json]      (past reconciles)
       reconcile export --report PATH          (every token's current status)
       reconcile --run N --report PATH         (the diff report of a past run again)

Recomputes aggregated token statuses (only the tokens that changed or fall
due, unless --full), stores them in token_statuses and reports the changes.
Exit codes: 0 done, 1 failed (run again), 2 usage or configuration error,
4 another reconcile of the accounts holds the lock (--lock-timeout; nothing
written). "reconcile lookup -h" describes lookups.`,
		Groups: []cli.Group{
			{Title: "What to reconcile", Flags: []string{"account", "as-of", "timezone", "full", "dry-run", "run"}},
			{Title: "Output", Flags: []string{"report", "json", "q", "quiet", "log-format", "log-level", "progress-every", "metrics-file", "version"}},
			{Title: "Database", Flags: []string{"db", "no-migrate", "retries", "lock-timeout", "workers"}},
		},
		Examples: `  reconcile --report changes.csv
  reconcile --account P00000001 --as-of 2024-07-01 --full --report - | head
  reconcile --dry-run --json
  reconcile -q --metrics-file /var/lib/node_exporter/textfile/tokenevents_reconcile.prom --report changes.csv`,
		Environment: environment,
	}
	lookupHelp = cli.Help{
		Usage: `usage: reconcile lookup --account AID (--email X | --phone X | --token-type T --token-value V) [--as-of TIME]

Prints one token as the customer token events API answers it: its id, its
customer when linked, the token, its aggregated status as of --as-of and its
events. An e-mail or phone number is hashed on the way in and never printed.`,
		Groups: []cli.Group{
			{Title: "Which token", Flags: []string{"account", "email", "phone", "region", "token-type", "token-value"}},
			{Title: "When", Flags: []string{"as-of", "timezone"}},
			{Title: "Database", Flags: []string{"db", "no-migrate", "retries", "lock-timeout"}},
			{Title: "Logs", Flags: []string{"log-format", "log-level"}},
		},
		Examples: `  reconcile lookup --account P00000001 --email kari@example.no
  reconcile lookup --account P00000001 --token-type sha1:email --token-value c0d9e96a9e795819d4aeecdb7a04963d62273248`,
		Environment: environment,
	}
)

const environment = `  DATABASE_URL   the database when --db is not given
  PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE
                 PostgreSQL through libpq's variables when neither is given
  (with none of them: the embedded file ./tokenevents.db)`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// common are the flags both forms share.
type common struct {
	db        string
	noMigrate bool
	asOf      string
	timezone  string
	logFormat string
	logLevel  slog.Level
	retries   int
	lock      string
}

func (c *common) register(fs *flag.FlagSet) {
	c.registerDB(fs)
	fs.StringVar(&c.asOf, "as-of", "", "compute statuses as of `TIME` (default now)")
	fs.StringVar(&c.timezone, "timezone", "UTC", "time `ZONE` for an --as-of without an offset")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format `text|json` (stderr)")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`")
}

// registerDB registers the flags that choose and open the database.
func (c *common) registerDB(fs *flag.FlagSet) {
	fs.StringVar(&c.db, "db", "", "database: postgres://… `URL`, or sqlite:PATH / PATH.db for an embedded file (default $DATABASE_URL, else PostgreSQL if $PGHOST is set, else ./tokenevents.db)")
	fs.BoolVar(&c.noMigrate, "no-migrate", false, "fail instead of migrating the schema")
	fs.IntVar(&c.retries, "retries", postgres.DefaultRetry.Attempts, "tries of a database operation that fails transiently")
	fs.StringVar(&c.lock, "lock-timeout", "", "wait at most `DURATION` for a reconcile of the same accounts to finish (0: do not wait; default: as long as it takes); past it, exit 4")
}

func (c *common) parseAsOf() (time.Time, error) {
	loc, err := time.LoadLocation(c.timezone)
	if err != nil {
		return time.Time{}, tokenevents.UsageErrorf("--timezone %q: %v", c.timezone, err)
	}
	if c.asOf == "" {
		return time.Now(), nil
	}
	t, err := pipeline.ParseTime(c.asOf, loc)
	if err != nil {
		return time.Time{}, tokenevents.UsageErrorf("--as-of %q: %v", c.asOf, err)
	}
	return t, nil
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, tokenevents.UsageErrorf("--log-format %q: text or json", c.logFormat)
}

func (c *common) open(ctx context.Context, log *slog.Logger, conns int) (store.Store, error) {
	target, err := store.Resolve(c.db, os.Getenv)
	if err != nil {
		return nil, err
	}
	wait, noWait, err := cli.LockTimeout(c.lock)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, target, store.Options{NoMigrate: c.noMigrate, Logger: log, MaxConns: conns, Retries: c.retries,
		ApplicationName: "tokenevents-reconcile", LockTimeout: wait, NoWait: noWait})
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned and printed once, by run
	fs.Usage = func() {}     // -h is answered by parse; a bad flag is an error, not a page of help
	return fs
}

// parse parses args, answering -h with h on stdout.
func parse(fs *flag.FlagSet, h cli.Help, stdout io.Writer, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		h.Print(stdout, fs)
		return err
	case err != nil:
		return tokenevents.UsageErrorf("%v (%s -h lists the flags)", err, fs.Name())
	}
	return nil
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 && args[0] == "lookup" {
		err = runLookup(ctx, args[1:], stdout, stderr)
	} else if len(args) > 0 && args[0] == "runs" {
		err = listRuns(ctx, args[1:], stdout)
	} else if len(args) > 0 && args[0] == "export" {
		err = runExport(ctx, args[1:], stdout, stderr)
	} else {
		err = runReconcile(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, tokenevents.ErrUsage):
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitUsage
	case errors.Is(err, tokenevents.ErrLocked):
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitLocked
	}
	fmt.Fprintf(stderr, "reconcile: %v\n", err)
	return exitFailed
}

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("reconcile")
	var c common
	c.register(fs)
	var accounts multiFlag
	var o reconcile.Options
	var asJSON, quiet, showVersion, printed bool
	var progressEvery time.Duration
	var metricsFile string
	defer func() {
		// --json prints one JSON object, also for a run that failed
		// before it started. Errors never carry identifiers.
		if err != nil && !printed && (asJSON || cli.WantsJSON(args)) && !errors.Is(err, flag.ErrHelp) {
			cli.WriteFailure(stdout, err)
		}
	}()
	fs.BoolVar(&quiet, "q", false, "quiet: print nothing on success (warnings and errors still go to stderr)")
	fs.BoolVar(&quiet, "quiet", false, "the same as -q")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	fs.Var(&accounts, "account", "reconcile account `AID` (repeatable; default every account)")
	fs.BoolVar(&o.Full, "full", false, "recompute every token, not only changed and due ones")
	fs.StringVar(&o.Report, "report", "", "diff report `PATH` (.csv, .jsonl, .parquet; - for CSV on stdout)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "compute and report, store nothing")
	fs.IntVar(&o.Workers, "workers", 2, "key ranges recomputed at once")
	var pastRun int64
	fs.Int64Var(&pastRun, "run", 0, "write the diff report of past run `N` to --report again, and reconcile nothing")
	fs.BoolVar(&asJSON, "json", false, "print the summary as one JSON object on stdout")
	fs.DurationVar(&progressEvery, "progress-every", 0, "when stderr is not a terminal, log progress every `DURATION` (e.g. 1m); on a terminal, bars are drawn")
	fs.StringVar(&metricsFile, "metrics-file", "", "write the run's figures to `PATH` in the Prometheus text format (node_exporter's textfile collector), atomically")
	if err := parse(fs, help, stdout, args); err != nil {
		return err
	}
	if showVersion {
		fmt.Fprintln(stdout, version.String("reconcile"))
		return nil
	}
	if fs.NArg() > 0 {
		return tokenevents.UsageErrorf("unexpected argument %q", fs.Arg(0))
	}
	for _, a := range accounts {
		if !tokenevents.ValidAccountID(a) {
			return tokenevents.UsageErrorf("--account %q: must match ^[PT][0-9]{8}$", a)
		}
	}
	if asJSON && o.Report == "-" {
		return tokenevents.UsageErrorf("--json and --report - both write to stdout; choose one")
	}
	if pastRun != 0 {
		return reportPastRun(ctx, &c, pastRun, o.Report, stdout)
	}
	if o.AsOf, err = c.parseAsOf(); err != nil {
		return err
	}
	if quiet && c.logLevel < slog.LevelWarn {
		c.logLevel = slog.LevelWarn
	}
	display := progress.New(stderr, progress.Options{Bars: !quiet && progress.IsTerminal(stderr), Every: progressEvery})
	log, err := c.logger(display)
	if err != nil {
		return err
	}
	display.Start(ctx, log)
	o.Accounts, o.Logger, o.Progress = accounts, log, display
	sum, err := reconcileWith(ctx, &c, o, stdout, log)
	display.Close()
	if metricsFile != "" {
		if merr := writeMetrics(metricsFile, sum, err); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	if sum.RunID != 0 {
		switch {
		case quiet && err == nil:
		case c.logFormat == "json": // one record, not text mixed into JSON lines
			level := slog.LevelInfo
			if err != nil {
				level = slog.LevelError
			}
			log.LogAttrs(ctx, level, "reconcile finished", slog.Any("summary", sum))
		default:
			reconcile.PrintSummary(stderr, sum)
		}
		if asJSON {
			printed = true
			if jerr := json.NewEncoder(stdout).Encode(sum); jerr != nil && err == nil {
				err = jerr
			}
		}
	}
	return err
}

// reconcileWith opens the store and reconciles.
func reconcileWith(ctx context.Context, c *common, o reconcile.Options, stdout io.Writer, log *slog.Logger) (reconcile.Summary, error) {
	db, err := c.open(ctx, log, o.Workers+2)
	if err != nil {
		return reconcile.Summary{}, err
	}
	defer db.Close()
	return reconcile.Run(ctx, db, o, stdout)
}

func runLookup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reconcile lookup")
	var c common
	c.register(fs)
	var account, email, phone, tokenType, tokenValue, region string
	fs.StringVar(&account, "account", "", "account `AID` (required)")
	fs.StringVar(&email, "email", "", "find the token of this e-mail `ADDRESS`")
	fs.StringVar(&phone, "phone", "", "find the token of this phone `NUMBER`")
	fs.StringVar(&tokenType, "token-type", "", "token `TYPE`, with --token-value")
	fs.StringVar(&tokenValue, "token-value", "", "token `VALUE`, with --token-type")
	fs.StringVar(&region, "region", "NO", "default `REGION` for --phone")
	if err := parse(fs, lookupHelp, stdout, args); err != nil {
		return err
	}
	if !tokenevents.ValidAccountID(account) {
		return tokenevents.UsageErrorf("--account is required and must match ^[PT][0-9]{8}$")
	}
	given := 0
	for _, s := range []string{email, phone, tokenValue} {
		if s != "" {
			given++
		}
	}
	if given != 1 || (tokenValue == "") != (tokenType == "") {
		return tokenevents.UsageErrorf("give exactly one of --email, --phone, or --token-type with --token-value")
	}
	var err error
	switch {
	case email != "":
		tokenType = tokenevents.TokenTypeEmail
		if tokenValue, err = hashing.HashEmail(email); err != nil {
			return tokenevents.UsageErrorf("--email: %v", err)
		}
	case phone != "":
		p, perr := hashing.NewPhones(region)
		if perr != nil {
			return tokenevents.UsageErrorf("--region %q: not a known region", region)
		}
		tokenType = tokenevents.TokenTypePhone
		if tokenValue, err = p.Hash(phone); err != nil {
			return tokenevents.UsageErrorf("--phone: %v", err)
		}
	default:
		if tokenType, err = hashing.NormalizeTokenType(tokenType); err != nil {
			return tokenevents.UsageErrorf("--token-type: %v", err)
		}
		if tokenValue, err = hashing.NormalizeTokenValue(tokenValue); err != nil {
			return tokenevents.UsageErrorf("--token-value: %v", err)
		}
	}
	asOf, err := c.parseAsOf()
	if err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	db, err := c.open(ctx, log, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	resp, err := reconcile.Lookup(ctx, db, account, tokenType, tokenValue, asOf)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(resp)
}

// reportPastRun is --run N: the diff report of a past run, written again.
func reportPastRun(ctx context.Context, c *common, runID int64, report string, stdout io.Writer) error {
	if report == "" {
		return tokenevents.UsageErrorf("--run needs --report PATH")
	}
	return writeReport(ctx, c, report, stdout, func(s store.Store, w reconcile.ReportWriter) error {
		runs, err := s.ReconcileRuns(ctx, 1<<20)
		if err != nil {
			return err
		}
		found := false
		for _, r := range runs {
			found = found || r.ID == runID
		}
		if !found {
			return tokenevents.UsageErrorf("--run %d: no such reconcile run (reconcile runs lists them)", runID)
		}
		return reconcile.Stream(ctx, w.Write, func(fn func(tokenevents.Change) error) error { return s.Report(ctx, runID, fn) })
	})
}
