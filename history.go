package tokenevents

import (
	"context"
	"encoding/json"
	"time"
)

// ImportRun is one past import as `import runs` lists it.
type ImportRun struct {
	ID         int64           `json:"id"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Outcome    string          `json:"outcome"`
	Files      json.RawMessage `json:"files"`   // each file's name, digests, counts and outcome
	Summary    json.RawMessage `json:"summary"` // the run's summary; null while running
}

// ReconcileRun is one past reconcile as `reconcile runs` lists it.
type ReconcileRun struct {
	ID          int64            `json:"id"`
	StartedAt   time.Time        `json:"started_at"`
	FinishedAt  *time.Time       `json:"finished_at,omitempty"`
	Outcome     string           `json:"outcome"`
	AsOf        time.Time        `json:"as_of"`
	Accounts    []string         `json:"accounts"`
	Full        bool             `json:"full"`
	Examined    int64            `json:"examined"`
	Changed     int64            `json:"changed"`
	Transitions map[string]int64 `json:"transitions"`
}

// RunHistory lists past runs, newest first, from import_runs and
// reconcile_runs, so that nobody needs SQL to see what ran last night.
type RunHistory interface {
	ImportRuns(ctx context.Context, last int) ([]ImportRun, error)
	ReconcileRuns(ctx context.Context, last int) ([]ReconcileRun, error)
}
