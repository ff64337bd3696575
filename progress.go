package tokenevents

import "sync/atomic"

// Phases of a run, as progress displays and records name them (SPEC §8).
const (
	PhaseStaging   = "staging"   // reading, normalising and staging a file
	PhaseMerging   = "merging"   // merging a file's staged partitions
	PhaseReconcile = "reconcile" // recomputing an account's key ranges
)

// Units a Meter counts in.
const (
	UnitBytes      = "bytes"
	UnitRows       = "rows"
	UnitPartitions = "partitions"
	UnitRanges     = "ranges"
)

// Meter is one phase of a run while it goes. The code doing the work adds
// to Done (and Rows); a Progress reads them at its own pace, so counting
// costs an atomic add and nothing waits for a display.
type Meter struct {
	Phase   string
	File    string // the input file of an import phase
	Account string // the account of a reconcile phase
	Unit    string
	Total   atomic.Int64 // what Done counts up to; 0 while not known (standard input)
	Done    *atomic.Int64
	Rows    *atomic.Int64 // rows read, or nil
}

// NewMeter returns a meter with its own Done counter.
func NewMeter(phase, unit string, total int64) *Meter {
	m := &Meter{Phase: phase, Unit: unit, Done: new(atomic.Int64)}
	m.Total.Store(total)
	return m
}

// Progress is told when a run's phases begin and end; a nil Progress is
// told nothing. End's completed says whether the phase did all its work
// (a phase that failed or was interrupted did not).
type Progress interface {
	Begin(m *Meter)
	End(m *Meter, completed bool)
}

// BeginPhase tells p, if any, that m's phase began.
func BeginPhase(p Progress, m *Meter) {
	if p != nil {
		p.Begin(m)
	}
}

// EndPhase tells p, if any, that m's phase ended.
func EndPhase(p Progress, m *Meter, completed bool) {
	if p != nil {
		p.End(m, completed)
	}
}

// BeginReconcile begins the reconcile phase of an account recomputed in
// ranges key ranges; the store adds 1 to Done per range and ends it.
func BeginReconcile(p Progress, account string, ranges int) *Meter {
	m := NewMeter(PhaseReconcile, UnitRanges, int64(ranges))
	m.Account = account
	BeginPhase(p, m)
	return m
}
