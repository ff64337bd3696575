package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/tokenevents/tokenevents"
)

// Outcomes recorded in reconcile_runs.
const (
	OutcomeDone        = "done"
	OutcomeFailed      = "failed"
	OutcomeInterrupted = "interrupted"
)

// Summary is what a reconcile did.
type Summary struct {
	RunID       int64            `json:"run_id"`
	Outcome     string           `json:"outcome"`
	AsOf        time.Time        `json:"as_of"`
	Full        bool             `json:"full"`
	DryRun      bool             `json:"dry_run"`
	Accounts    int              `json:"accounts"`
	Examined    int64            `json:"examined"`
	Changed     int64            `json:"changed"`
	Transitions map[string]int64 `json:"transitions"`
	Report      string           `json:"report,omitempty"`
	Seconds     float64          `json:"seconds"`
}

// Options of Run.
type Options struct {
	tokenevents.ReconcileOptions
	Accounts []string // empty: every account
	Report   string   // "" no report; "-" CSV on stdout
	Logger   *slog.Logger
}

// Run reconciles the accounts and writes the diff report.
func Run(ctx context.Context, store tokenevents.ReconcileStore, o Options, stdout io.Writer) (sum Summary, err error) {
	start := time.Now()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AsOf.IsZero() {
		o.AsOf = time.Now()
	}
	o.AsOf = o.AsOf.UTC().Truncate(time.Microsecond) // what the database stores
	sum = Summary{AsOf: o.AsOf, Full: o.Full, DryRun: o.DryRun, Transitions: map[string]int64{}}
	var report ReportWriter
	if o.Report != "" {
		if report, err = NewReportWriter(o.Report, stdout); err != nil {
			return sum, err
		}
		sum.Report = o.Report
	}
	accounts := o.Accounts
	if len(accounts) == 0 {
		if accounts, err = store.Accounts(ctx); err != nil {
			return sum, errors.Join(err, closeFailed(report))
		}
	}
	sum.Accounts = len(accounts)
	runID, err := store.StartReconcile(ctx, accounts, o.ReconcileOptions)
	if err != nil {
		return sum, errors.Join(err, closeFailed(report))
	}
	sum.RunID = runID
	var total tokenevents.ReconcileCounts
	for _, a := range accounts {
		c, aerr := store.ReconcileAccount(ctx, runID, a, o.ReconcileOptions)
		total.Add(c)
		o.Logger.Info("account reconciled", "run_id", runID, "account_id", a, "examined", c.Examined, "changed", c.Changed)
		if err = aerr; err != nil {
			break
		}
	}
	if err == nil && report != nil {
		err = Stream(ctx, report.Write, func(fn func(tokenevents.Change) error) error { return store.Report(ctx, runID, fn) })
		if err == nil {
			err = report.Close()
			report = nil
		}
	}
	sum.Outcome = OutcomeDone
	if err != nil {
		sum.Outcome = OutcomeFailed
		if ctx.Err() != nil {
			sum.Outcome = OutcomeInterrupted
		}
	}
	sum.Examined, sum.Changed = total.Examined, total.Changed
	for k, v := range total.Transitions {
		sum.Transitions[k] = v
	}
	sum.Seconds = time.Since(start).Seconds()
	ferr := store.FinishReconcile(context.WithoutCancel(ctx), runID, sum.Outcome, total, o.ReconcileOptions)
	return sum, errors.Join(err, closeFailed(report), ferr)
}

// closeFailed discards a report that will not be completed.
func closeFailed(r ReportWriter) error {
	if r == nil {
		return nil
	}
	return r.Abort()
}

// PrintSummary writes the human summary.
func PrintSummary(w io.Writer, s Summary) {
	mode := "incremental"
	if s.Full {
		mode = "full"
	}
	if s.DryRun {
		mode += ", dry run: nothing stored"
	}
	fmt.Fprintf(w, "reconcile run %d: %s (%s) as of %s\n", s.RunID, s.Outcome, mode, s.AsOf.Format(time.RFC3339Nano))
	fmt.Fprintf(w, "  accounts   %d\n  examined   %d tokens\n  changed    %d\n", s.Accounts, s.Examined, s.Changed)
	keys := make([]string, 0, len(s.Transitions))
	for k := range s.Transitions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s: %d\n", k, s.Transitions[k])
	}
	fmt.Fprintf(w, "  time       %.2f s\n", s.Seconds)
	if s.Report != "" && s.Report != "-" {
		fmt.Fprintf(w, "  report     %s\n", s.Report)
	}
}
