package progress

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
)

func TestFigures(t *testing.T) {
	rows := new(atomic.Int64)
	rows.Store(12000)
	staging := &tokenevents.Meter{Phase: tokenevents.PhaseStaging, File: "a.csv", Unit: tokenevents.UnitBytes, Done: new(atomic.Int64), Rows: rows}
	staging.Total.Store(4_000_000)
	staging.Done.Store(1_000_000)
	stdin := &tokenevents.Meter{Phase: tokenevents.PhaseStaging, File: "-", Unit: tokenevents.UnitBytes, Done: new(atomic.Int64), Rows: rows}
	stdin.Done.Store(2_500_000)
	merging := tokenevents.NewMeter(tokenevents.PhaseMerging, tokenevents.UnitPartitions, 64)
	merging.Done.Store(16)
	for _, tc := range []struct {
		f       figures
		want    string
		percent float64
	}{
		{figuresOf(staging, 2*time.Second), "12,000 rows, 6,000 rows/s, 1.0 MB, ETA 6s", 25},
		{figuresOf(stdin, 2*time.Second), "12,000 rows, 6,000 rows/s, 2.5 MB", -1},
		{figuresOf(merging, time.Second), "16/64 partitions, ETA 3s", 25},
		{figures{m: merging, done: 64, total: 64, rows: -1, elapsed: 4 * time.Second, over: true}, "64/64 partitions, 4.0 s", 100},
	} {
		if got := tc.f.String(); got != tc.want || tc.f.percent() != tc.percent {
			t.Errorf("%s: %q %v%%, want %q %v%%", tc.f.m.Phase, got, tc.f.percent(), tc.want, tc.percent)
		}
	}
}

// TestRecords: off a terminal, a record per running phase at each
// interval, with the figures as fields; none once the phase ended.
func TestRecords(t *testing.T) {
	var out bytes.Buffer
	var mu lockedWriter
	mu.w = &out
	d := New(&mu, Options{Every: 5 * time.Millisecond})
	d.Start(t.Context(), slog.New(slog.NewJSONHandler(d, nil)))
	m := tokenevents.BeginReconcile(d, "P00000001", 8)
	m.Done.Store(2)
	time.Sleep(30 * time.Millisecond)
	tokenevents.EndPhase(d, m, true)
	mu.mu.Lock()
	before := out.Len()
	mu.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	d.Close()
	if out.Len() != before {
		t.Errorf("records after the phase ended:\n%s", out.String()[before:])
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d records in 30 ms at 5 ms", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "progress" || rec["phase"] != "reconcile" || rec["account_id"] != "P00000001" || rec["unit"] != "ranges" ||
		rec["done"] != float64(2) || rec["total"] != float64(8) || rec["percent"] != float64(25) {
		t.Errorf("record %v", rec)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
