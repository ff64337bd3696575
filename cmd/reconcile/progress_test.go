package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/internal/metrics"
	"github.com/tokenevents/tokenevents/internal/ptytest"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

// TestReconcileProgressAndMetrics: on a terminal, reconcile draws its
// phase's bar to 100%; --metrics-file tells the run's figures, per
// transition, and keeps the last success time through a failed run.
func TestReconcileProgressAndMetrics(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		path := t.TempDir() + "/reconcile.prom"
		code, lines := ptytest.Run(t, func(tty *os.File) int {
			return run(context.Background(), []string{"--db", dsn, "--as-of", "2024-06-01T00:00:00Z", "--metrics-file", path},
				strings.NewReader(""), io.Discard, tty)
		})
		done := false
		for _, l := range lines {
			done = done || strings.HasPrefix(l, "reconcile account P00000001") && strings.Contains(l, "100 %")
		}
		if code != 0 || !done {
			t.Errorf("exit %d; the terminal showed:\n%s", code, strings.Join(lines, "\n"))
		}
		gauges := func() map[string]float64 {
			t.Helper()
			g, err := metrics.ReadGauges(path)
			if err != nil {
				t.Fatalf("the metrics file does not parse: %v", err)
			}
			return g
		}
		g := gauges()
		for key, want := range map[string]float64{
			"tokenevents_reconcile_tokens_changed": 2, "tokenevents_reconcile_accounts": 1,
			"tokenevents_reconcile_tokens_changed_by_transition{from=UNKNOWN}{to=OPT_OUT}": 1,
			"tokenevents_reconcile_tokens_changed_by_transition{from=UNKNOWN}{to=OPT_IN}":  1,
			"tokenevents_reconcile_outcome{outcome=done}":                                  1,
		} {
			if g[key] != want {
				t.Errorf("%s = %v, want %v (all: %v)", key, g[key], want, g)
			}
		}
		success := g["tokenevents_reconcile_last_success_timestamp_seconds"]

		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"--db", dsn, "--report", "/proc/x.csv", "--metrics-file", path},
			strings.NewReader(""), io.Discard, &stderr); code == 0 {
			t.Fatalf("a report that cannot be written: exit 0")
		}
		g = gauges()
		if g["tokenevents_reconcile_outcome{outcome=failed}"] != 1 || g["tokenevents_reconcile_last_success_timestamp_seconds"] != success {
			t.Errorf("after a failed run: %v", g)
		}
	})
}
