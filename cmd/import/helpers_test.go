package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/pipeline"
)

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
	sum            pipeline.Summary
}

// runImport runs the command with --db dsn and --json and decodes the summary.
func runImport(t *testing.T, dsn string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--db", dsn, "--json", "--retries", "1"}, args...)
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &errb)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	if strings.TrimSpace(r.stdout) != "" {
		if err := json.Unmarshal(out.Bytes(), &r.sum); err != nil {
			t.Fatalf("summary is not JSON: %v\n%s", err, r.stdout)
		}
		checkAddsUp(t, r.sum)
	}
	return r
}

// checkAddsUp asserts the SPEC's accounting: every row and every event is
// accounted for exactly once.
func checkAddsUp(t *testing.T, s pipeline.Summary) {
	t.Helper()
	if s.RowsRead != s.RowsImported+s.RowsRejected+s.RowsPending {
		t.Errorf("rows: read %d != imported %d + rejected %d + pending %d", s.RowsRead, s.RowsImported, s.RowsRejected, s.RowsPending)
	}
	if s.Outcome == pipeline.OutcomeDone && s.RowsPending != 0 {
		t.Errorf("a done run left %d rows pending", s.RowsPending)
	}
	if s.Outcome == pipeline.OutcomeDone {
		if got := s.EventsNew + s.EventsUpdated + s.EventsUnchanged + s.Duplicates; got != s.Events {
			t.Errorf("events: %d produced, but new+updated+unchanged+duplicates = %d (%+v)", s.Events, got, s)
		}
	}
}

// assertEvents compares the stored events with want, in any order.
func assertEvents(t *testing.T, dsn string, want []string) {
	t.Helper()
	got := testdb.Dump(t, testdb.Open(t, dsn))
	w := append([]string(nil), want...)
	sort.Strings(got)
	sort.Strings(w)
	if strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Errorf("stored events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rejectsText is the rejects file as lines of " | "-joined fields.
func rejectsText(t *testing.T, path string) string {
	t.Helper()
	var lines []string
	for _, row := range readRejects(t, path) {
		lines = append(lines, strings.Join(row, " | "))
	}
	return strings.Join(lines, "\n")
}
