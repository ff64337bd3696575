package main

import (
	"strings"
	"time"

	"github.com/tokenevents/tokenevents/internal/metrics"
	"github.com/tokenevents/tokenevents/reconcile"
)

// writeMetrics writes the run's --metrics-file. A run that failed before
// it had a summary counts as failed.
func writeMetrics(path string, s reconcile.Summary, runErr error) error {
	outcome := s.Outcome
	if outcome == "" {
		outcome = reconcile.OutcomeFailed
	}
	values := []metrics.Value{
		{Name: "accounts", Help: "Accounts the last run reconciled.", Value: float64(s.Accounts)},
		{Name: "tokens_examined", Help: "Tokens whose status the last run recomputed.", Value: float64(s.Examined)},
		{Name: "tokens_changed", Help: "Tokens whose status the last run changed.", Value: float64(s.Changed)},
	}
	for k, n := range s.Transitions {
		from, to, _ := strings.Cut(k, "→")
		values = append(values, metrics.Value{Name: "tokens_changed_by_transition", Help: "Tokens the last run changed, by previous and new status.",
			Labels: map[string]string{"from": from, "to": to}, Value: float64(n)})
	}
	return metrics.Write(path, metrics.Run{
		Program:  "reconcile",
		Outcome:  outcome,
		Outcomes: []string{reconcile.OutcomeDone, reconcile.OutcomeFailed, reconcile.OutcomeInterrupted},
		Success:  runErr == nil && outcome == reconcile.OutcomeDone,
		End:      time.Now(),
		Seconds:  s.Seconds,
		Values:   values,
	})
}
