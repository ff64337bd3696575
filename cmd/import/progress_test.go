package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/internal/metrics"
	"github.com/tokenevents/tokenevents/internal/ptytest"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

// exportOf writes an events file of n rows.
func exportOf(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,created_at\n")
	for i := range n {
		fmt.Fprintf(&b, "user%d@example.no,2024-01-01T00:00:00Z\n", i)
	}
	return writeFile(t, dir, "export.csv", []byte(b.String()))
}

// onTerminal runs the import with standard error on a pseudo-terminal.
func onTerminal(t *testing.T, args ...string) (int, []string) {
	return ptytest.Run(t, func(tty *os.File) int {
		return run(context.Background(), args, strings.NewReader(""), io.Discard, tty)
	})
}

// TestProgressOnTerminal drives the import under a pseudo-terminal: a bar
// per phase, each reaching 100%, log lines whole above them; -q draws
// nothing.
func TestProgressOnTerminal(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		file := exportOf(t, dir, 3000)
		code, lines := onTerminal(t, "--db", be.New(t), "--account", "P00000001", "--event", "e", "--rejects", dir+"/rej.csv", file)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, strings.Join(lines, "\n"))
		}
		complete := map[string]bool{}
		logLine := false
		for _, l := range lines {
			for _, phase := range []string{"staging", "merging"} {
				if strings.HasPrefix(l, phase) && strings.Contains(l, "100 %") {
					complete[phase] = true
				}
			}
			if strings.Contains(l, `msg="file finished"`) {
				// Whole, alone on its line: not torn by a bar.
				logLine = strings.HasPrefix(l, "time=") && strings.HasSuffix(strings.TrimSpace(l), "events=3000") && !strings.Contains(l, "[=")
			}
		}
		if !complete["staging"] || !complete["merging"] || !logLine {
			t.Errorf("staging at 100%%: %v, merging at 100%%: %v, log line whole: %v; the terminal showed:\n%s",
				complete["staging"], complete["merging"], logLine, strings.Join(lines, "\n"))
		}

		code, lines = onTerminal(t, "--db", be.New(t), "-q", "--account", "P00000001", "--event", "e", "--rejects", dir+"/rej2.csv", file)
		if code != 0 || len(lines) != 0 {
			t.Errorf("-q on a terminal: exit %d, showed %q", code, lines)
		}
	})
}

// TestProgressRecords: off a terminal, --progress-every writes progress
// records naming each phase; without it, none.
func TestProgressRecords(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		file := exportOf(t, dir, 3000)
		for _, every := range []string{"2ms", ""} {
			args := []string{"--db", be.New(t), "--log-format", "json", "--account", "P00000001", "--event", "e", "--rejects", dir + "/rej.csv", file}
			if every != "" {
				args = append(args, "--progress-every", every)
			}
			var stderr bytes.Buffer
			if code := run(context.Background(), args, strings.NewReader(""), io.Discard, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			phases := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				var rec struct {
					Msg, Phase, File, Unit string
					Done, Total            int64
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("not a JSON record: %q", line)
				}
				if rec.Msg == "progress" {
					phases[rec.Phase]++
					if rec.File != file || rec.Total <= 0 || rec.Done > rec.Total {
						t.Errorf("progress record %s", line)
					}
				}
			}
			if every != "" && (phases["staging"] == 0 || phases["merging"] == 0) || every == "" && len(phases) != 0 {
				t.Errorf("--progress-every %q: progress records per phase %v", every, phases)
			}
		}
	})
}

// TestMetricsFile: --metrics-file parses with the Prometheus text parser
// and tells the run's figures; a failed run keeps the last success time.
func TestMetricsFile(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		dsn := be.New(t)
		good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\nola@example.no,2024-01-01\nola@example.no,2024-01-01\n"))
		bad := writeFile(t, dir, "bad.csv", []byte("email,created_at\nnot-an-email,2024-01-01\n"))
		path := dir + "/import.prom"
		gauges := func() map[string]float64 {
			t.Helper()
			g, err := metrics.ReadGauges(path)
			if err != nil {
				t.Fatalf("the metrics file does not parse: %v", err)
			}
			return g
		}
		base := []string{"--db", dsn, "-q", "--account", "P00000001", "--event", "e", "--rejects", dir + "/rej.csv", "--metrics-file", path}
		if code := run(context.Background(), append(base, good), strings.NewReader(""), io.Discard, io.Discard); code != 0 {
			t.Fatalf("exit %d", code)
		}
		g := gauges()
		for key, want := range map[string]float64{
			"tokenevents_import_rows_read": 3, "tokenevents_import_rows_rejected": 0,
			"tokenevents_import_events{result=new}": 2, "tokenevents_import_events{result=duplicate}": 1,
			"tokenevents_import_outcome{outcome=done}": 1, "tokenevents_import_outcome{outcome=failed}": 0,
		} {
			if g[key] != want {
				t.Errorf("%s = %v, want %v", key, g[key], want)
			}
		}
		success := g["tokenevents_import_last_success_timestamp_seconds"]
		if success <= 0 || success != g["tokenevents_import_last_run_timestamp_seconds"] {
			t.Errorf("last success %v, last run %v", success, g["tokenevents_import_last_run_timestamp_seconds"])
		}

		if code := run(context.Background(), append(base, "--max-rejects", "0", bad), strings.NewReader(""), io.Discard, io.Discard); code != exitTooManyBad {
			t.Fatalf("exit %d, want %d", code, exitTooManyBad)
		}
		g = gauges()
		if g["tokenevents_import_outcome{outcome=too_many_rejects}"] != 1 || g["tokenevents_import_outcome{outcome=done}"] != 0 ||
			g["tokenevents_import_rows_rejected"] != 1 || g["tokenevents_import_last_success_timestamp_seconds"] != success {
			t.Errorf("after a failed run: %v", g)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 4 { // good, bad, rejects, metrics: no temporary file left
			t.Errorf("files left in the directory: %v", entries)
		}
	})
}
