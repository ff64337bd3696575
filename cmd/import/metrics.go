package main

import (
	"time"

	"github.com/tokenevents/tokenevents/internal/metrics"
	"github.com/tokenevents/tokenevents/pipeline"
)

// writeMetrics writes the run's --metrics-file. A run that failed before
// it had a summary counts as failed.
func writeMetrics(path string, s pipeline.Summary, runErr error) error {
	outcome := s.Outcome
	if outcome == "" {
		outcome = pipeline.OutcomeFailed
	}
	count := func(name, help string, v int64) metrics.Value {
		return metrics.Value{Name: name, Help: help, Value: float64(v)}
	}
	labelled := func(name, help, label string, values map[string]int64) []metrics.Value {
		var out []metrics.Value
		for k, v := range values {
			out = append(out, metrics.Value{Name: name, Help: help, Labels: map[string]string{label: k}, Value: float64(v)})
		}
		return out
	}
	values := []metrics.Value{
		count("files", "Files the last run was given.", int64(s.Files)),
		count("files_skipped", "Files skipped as imported before.", int64(s.FilesSkipped)),
		count("files_failed", "Files that could not be read to their end.", int64(s.FilesFailed)),
		count("rows_read", "Rows read by the last run.", s.RowsRead),
		count("rows_rejected", "Rows rejected (see the rejects file).", s.RowsRejected),
		count("rows_imported", "Rows imported, in files whose events were all merged.", s.RowsImported),
		count("tokens_new", "Tokens stored for the first time.", s.TokensNew),
	}
	values = append(values, labelled("events", "Events of the last run by what the merge did with them.", "result", map[string]int64{
		"new": s.EventsNew, "updated": s.EventsUpdated, "unchanged": s.EventsUnchanged, "duplicate": s.Duplicates})...)
	values = append(values, labelled("customers", "Customers of the last run by what the merge did with them.", "result", map[string]int64{
		"new": s.CustomersNew, "updated": s.CustomersUpdated, "unchanged": s.CustomersUnchanged})...)
	values = append(values, labelled("links", "Token links of the last run by what the merge did with them.", "result", map[string]int64{
		"new": s.LinksNew, "moved": s.LinksMoved, "unchanged": s.LinksUnchanged})...)
	return metrics.Write(path, metrics.Run{
		Program:  "import",
		Outcome:  outcome,
		Outcomes: []string{pipeline.OutcomeDone, pipeline.OutcomeFailed, pipeline.OutcomeInterrupted, pipeline.OutcomeRejected},
		Success:  runErr == nil && outcome == pipeline.OutcomeDone,
		End:      time.Now(),
		Seconds:  s.Seconds,
		Values:   values,
	})
}
