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
	"github.com/tokenevents/tokenevents/internal/cli"
	"github.com/tokenevents/tokenevents/internal/progress"
	"github.com/tokenevents/tokenevents/internal/version"
	"github.com/tokenevents/tokenevents/pipeline"
	"github.com/tokenevents/tokenevents/sql/postgres"
	"github.com/tokenevents/tokenevents/sql/store"
)

// Exit codes, SPEC §3.
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2
	exitTooManyBad = 3
	exitLocked     = cli.ExitLocked
)

// help is -h: on stdout, flags grouped, with examples and environment.
var help = cli.Help{
	Usage: `usage: import [flags] FILE...            (- reads standard input)
       import --customers [flags] FILE...
       import runs [--last N] [--json]         (past imports)

Imports token events (or, with --customers, loyalty customers and their
tokens) from CSV (.csv .tsv .txt, optionally .gz) or Parquet files into the
database. Exit codes: 0 done, 1 failed (run again to finish), 2 usage or
configuration error (nothing written), 3 too many rejected rows, 4 another
import holds the lock (--lock-timeout; nothing written).`,
	Groups: []cli.Group{
		{Title: "Database", Flags: []string{"db", "no-migrate", "retries", "lock-timeout"}},
		{Title: "What the rows mean", Flags: []string{"customers", "account", "event", "status", "created-at", "expires-after", "timezone",
			"region", "map", "metadata"}},
		{Title: "Reading files", Flags: []string{"format", "delimiter", "encoding", "max-record-bytes", "force"}},
		{Title: "Rejected rows", Flags: []string{"rejects", "rejects-raw", "max-rejects"}},
		{Title: "Output", Flags: []string{"json", "q", "quiet", "log-format", "log-level", "progress-every", "metrics-file", "version"}},
		{Title: "Tuning", Flags: []string{"workers", "writers", "batch-rows", "batch-bytes"}},
	},
	Examples: `  import --account P00000001 --event "declined at till" store-optouts.csv
  import --db postgres://user@host/db --expires-after 8760h exports/*.csv.gz
  zcat export.csv.gz | import --map email=E-post --json - > summary.json
  import --customers --map customer_id="Member No" loyalty.csv
  import --progress-every 1m --metrics-file /var/lib/node_exporter/textfile/tokenevents_import.prom exports/*.csv.gz`,
	Environment: `  DATABASE_URL   the database when --db is not given
  PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE
                 PostgreSQL through libpq's variables when neither is given
  (with none of them: the embedded file ./tokenevents.db)`,
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// config is the parsed command line.
type config struct {
	opts      pipeline.Options
	files     []string
	db        string
	noMigrate bool
	retries   int
	json      bool
	quiet     bool
	version   bool
	lockWait  time.Duration
	noWait    bool
	logFormat string
	logLevel  slog.Level
	// progressEvery writes a progress record at this interval when
	// standard error is not a terminal.
	progressEvery time.Duration
	metricsFile   string
}

func parseArgs(args []string, stdout io.Writer) (*config, error) {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned and printed once, by run
	fs.Usage = func() {}     // -h is answered below; a bad flag is an error, not a page of help
	c := &config{}
	o := &c.opts
	var maps, meta multiFlag
	var createdAt, timezone, delimiter, maxRejects, lockTimeout string
	fs.StringVar(&o.Account, "account", "", "account id `AID` for rows without an account_id column")
	fs.StringVar(&o.Event, "event", "", "event `TEXT` for rows without an event column")
	fs.StringVar(&o.Status, "status", "OPT_OUT", "status for rows without a status column")
	fs.StringVar(&createdAt, "created-at", "", "created_at `TIME` for rows without one")
	fs.DurationVar(&o.ExpiresAfter, "expires-after", 0, "expires_at = created_at + `DURATION` when a row has none (e.g. 8760h)")
	fs.StringVar(&timezone, "timezone", "UTC", "time `ZONE` for timestamps without an offset")
	fs.StringVar(&o.Region, "region", "NO", "default `REGION` for phone numbers without a country code")
	fs.Var(&maps, "map", "`FIELD=HEADER`: read FIELD from column HEADER (repeatable)")
	fs.Var(&meta, "metadata", "`COL,...`: copy these columns into metadata (repeatable)")
	fs.StringVar(&o.Format, "format", "", "input format `csv|parquet` (default: from the extension)")
	fs.StringVar(&delimiter, "delimiter", "", "CSV delimiter (default: detected among , ; tab |)")
	fs.StringVar(&o.Encoding, "encoding", "", "CSV text encoding `utf-8|windows-1252|iso-8859-1` (default utf-8)")
	fs.BoolVar(&o.Customers, "customers", false, "the files are customer exports (loyalty migrations): upsert customers and link their tokens")
	fs.BoolVar(&o.Force, "force", false, "import files even if their content was imported before")
	fs.StringVar(&o.RejectsPath, "rejects", "", "rejects file `PATH` (default rejects-<run id>.csv)")
	fs.BoolVar(&o.RejectsRaw, "rejects-raw", false, "show identifiers unredacted in the rejects file")
	fs.StringVar(&maxRejects, "max-rejects", "1%", "stop with exit code 3 past `N` or P% rejected rows")
	fs.IntVar(&o.Workers, "workers", 2, "normalise/hash workers")
	fs.IntVar(&o.Writers, "writers", 2, "concurrent database writers")
	fs.IntVar(&o.BatchRows, "batch-rows", 10000, "events per database transaction, at most")
	fs.IntVar(&o.BatchBytes, "batch-bytes", 4<<20, "bytes per database transaction, about")
	fs.IntVar(&o.MaxRecordBytes, "max-record-bytes", tokenevents.DefaultMaxRecordBytes, "reject an input record longer than `N` bytes (all its fields)")
	fs.StringVar(&c.db, "db", "", "database: postgres://… `URL`, or sqlite:PATH / PATH.db for an embedded file (default $DATABASE_URL, else PostgreSQL if $PGHOST is set, else ./tokenevents.db)")
	fs.BoolVar(&c.noMigrate, "no-migrate", false, "fail instead of migrating the schema")
	fs.IntVar(&c.retries, "retries", postgres.DefaultRetry.Attempts, "tries of a database operation that fails transiently")
	fs.BoolVar(&c.json, "json", false, "print the summary as one JSON object on stdout (also when the run fails)")
	fs.BoolVar(&c.quiet, "q", false, "quiet: print nothing on success (warnings and errors still go to stderr)")
	fs.BoolVar(&c.quiet, "quiet", false, "the same as -q")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.StringVar(&lockTimeout, "lock-timeout", "", "wait at most `DURATION` for another import to finish (0: do not wait; default: as long as it takes); past it, exit 4")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format `text|json` (stderr)")
	fs.StringVar(&c.metricsFile, "metrics-file", "", "write the run's figures to `PATH` in the Prometheus text format (node_exporter's textfile collector), atomically")
	fs.DurationVar(&c.progressEvery, "progress-every", 0, "when stderr is not a terminal, log progress every `DURATION` (e.g. 1m); on a terminal, bars are drawn")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn, error")

	// Flags may follow file names: parse, take the next file, go on.
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help.Print(stdout, fs)
				return nil, err
			}
			return nil, tokenevents.UsageErrorf("%v (import -h lists the flags)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		c.files = append(c.files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if c.version {
		return c, nil
	}
	if len(c.files) == 0 {
		return nil, tokenevents.UsageErrorf("no input files (give FILE... or - for standard input)")
	}
	for _, m := range maps {
		field, header, ok := strings.Cut(m, "=")
		if !ok || field == "" || header == "" {
			return nil, tokenevents.UsageErrorf("--map %q: want FIELD=HEADER", m)
		}
		if o.Map == nil {
			o.Map = map[string]string{}
		}
		o.Map[strings.ToLower(strings.TrimSpace(field))] = header
	}
	for _, m := range meta {
		for _, col := range strings.Split(m, ",") {
			if col = strings.TrimSpace(col); col != "" {
				o.Metadata = append(o.Metadata, col)
			}
		}
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, tokenevents.UsageErrorf("--timezone %q: %v", timezone, err)
	}
	o.Location = loc
	if createdAt != "" {
		t, err := pipeline.ParseTime(createdAt, loc)
		if err == nil {
			t, err = tokenevents.StorableTime(t)
		}
		if err != nil {
			return nil, tokenevents.UsageErrorf("--created-at %q: %v", createdAt, err)
		}
		o.CreatedAt = tokenevents.At(t)
	}
	switch delimiter {
	case "":
	case "tab", `\t`, "\t":
		o.Delimiter = '\t'
	case ",", ";", "|":
		o.Delimiter = rune(delimiter[0])
	default:
		return nil, tokenevents.UsageErrorf("--delimiter %q: one of , ; | tab", delimiter)
	}
	if o.MaxRejects, err = pipeline.ParseRejectLimit(maxRejects); err != nil {
		return nil, err
	}
	if c.lockWait, c.noWait, err = cli.LockTimeout(lockTimeout); err != nil {
		return nil, err
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return nil, tokenevents.UsageErrorf("--log-format %q: text or json", c.logFormat)
	}
	return c, nil
}

func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "runs" {
		err := listRuns(ctx, args[1:], stdout)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "import runs: %v\n", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitCode(err)
	}
	c, err := parseArgs(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		if cli.WantsJSON(args) {
			cli.WriteFailure(stdout, err)
		}
		fmt.Fprintf(stderr, "import: %v\n", err)
		return exitUsage
	}
	if c.version {
		fmt.Fprintln(stdout, version.String("import"))
		return exitOK
	}
	level := c.logLevel
	if c.quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	display := progress.New(stderr, progress.Options{Bars: !c.quiet && progress.IsTerminal(stderr), Every: c.progressEvery})
	log := newLogger(c.logFormat, level, display)
	display.Start(ctx, log)
	c.opts.Logger, c.opts.Progress = log, display
	sum, err := importFiles(ctx, c, stdin, log)
	display.Close()
	if c.metricsFile != "" {
		if merr := writeMetrics(c.metricsFile, sum, err); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	switch {
	case sum.RunID == 0:
	case c.logFormat == "json":
		// One record, not text mixed into JSON lines; kept even with -q
		// when the run failed.
		level := slog.LevelInfo
		if err != nil {
			level = slog.LevelError
		}
		if !c.quiet || err != nil {
			log.LogAttrs(ctx, level, "import finished", slog.Any("summary", sum))
		}
	case !c.quiet || err != nil:
		printSummary(stderr, sum)
	}
	if c.json {
		if sum.RunID == 0 && err != nil {
			cli.WriteFailure(stdout, err)
		} else if jerr := json.NewEncoder(stdout).Encode(sum); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "import: %v\n", err)
	}
	return exitCode(err)
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, tokenevents.ErrUsage):
		return exitUsage
	case errors.Is(err, tokenevents.ErrTooManyRejects):
		return exitTooManyBad
	case errors.Is(err, tokenevents.ErrLocked):
		return exitLocked
	}
	return exitFailed
}

func importFiles(ctx context.Context, c *config, stdin io.Reader, log *slog.Logger) (pipeline.Summary, error) {
	var sum pipeline.Summary
	im, err := pipeline.NewImporter(c.opts, stdin)
	if err != nil {
		return sum, err
	}
	files, err := im.Preflight(ctx, c.files)
	if err != nil {
		return sum, err
	}
	target, err := store.Resolve(c.db, os.Getenv)
	if err != nil {
		return sum, err
	}
	db, err := store.Open(ctx, target, store.Options{NoMigrate: c.noMigrate, Logger: log, MaxConns: c.opts.Writers + 2,
		Retries: c.retries, ApplicationName: "tokenevents-import", LockTimeout: c.lockWait, NoWait: c.noWait})
	if err != nil {
		return sum, err
	}
	defer db.Close()
	return im.Run(ctx, db, files)
}

func printSummary(w io.Writer, s pipeline.Summary) {
	fmt.Fprintf(w, "import run %d: %s\n", s.RunID, s.Outcome)
	fmt.Fprintf(w, "  files          %d (%d skipped as unchanged, %d failed)\n", s.Files, s.FilesSkipped, s.FilesFailed)
	fmt.Fprintf(w, "  rows read      %d (imported %d, rejected %d, not merged %d; %d bad identifiers beside good ones)\n",
		s.RowsRead, s.RowsImported, s.RowsRejected, s.RowsPending, s.FieldsRejected)
	if s.LinesUnread > 0 || s.BytesUnread > 0 {
		fmt.Fprintf(w, "  not read       %d lines (%d bytes) after the point where a file's text broke off\n", s.LinesUnread, s.BytesUnread)
	}
	fmt.Fprintf(w, "  events         %d: new %d, updated %d, unchanged %d, duplicates %d, already committed %d\n",
		s.Events, s.EventsNew, s.EventsUpdated, s.EventsUnchanged, s.Duplicates, s.EventsResumed)
	if s.EventsExpiredOnArrival > 0 {
		fmt.Fprintf(w, "  expired        %d events already expired when created (expires_at <= created_at: they never count)\n", s.EventsExpiredOnArrival)
	}
	if s.CustomersNew+s.CustomersUpdated+s.CustomersUnchanged+s.LinksNew+s.LinksMoved+s.LinksUnchanged > 0 {
		fmt.Fprintf(w, "  customers      new %d, updated %d, unchanged %d\n", s.CustomersNew, s.CustomersUpdated, s.CustomersUnchanged)
		fmt.Fprintf(w, "  links          new %d, moved %d, unchanged %d\n", s.LinksNew, s.LinksMoved, s.LinksUnchanged)
	}
	fmt.Fprintf(w, "  tokens new     %d\n", s.TokensNew)
	fmt.Fprintf(w, "  time           %.2f s, %.0f rows/s\n", s.Seconds, s.RowsPerSecond)
	if s.RejectsFile != "" {
		fmt.Fprintf(w, "  rejects        %s\n", s.RejectsFile)
	}
}
