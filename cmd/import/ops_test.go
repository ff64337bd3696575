package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/internal/teststore"
)

// TestQuietAndJSON: -q prints nothing on success; --json prints one JSON
// object on stdout, also when the run fails before it starts; with
// --log-format json the summary is one log record.
func TestQuietAndJSON(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
		call := func(args ...string) (int, string, string) {
			var out, errb bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
			return code, out.String(), errb.String()
		}
		base := []string{"--account", "P00000001", "--event", "e", "--rejects", dir + "/rej.csv"}

		code, stdout, stderr := call(append([]string{"--db", be.New(t), "-q"}, append(base, good)...)...)
		if code != 0 || stdout != "" || stderr != "" {
			t.Errorf("-q: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}

		code, stdout, stderr = call(append([]string{"--db", be.New(t), "--log-format", "json"}, append(base, good)...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		records := 0
		for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("stderr line is not JSON: %q", line)
				continue
			}
			if rec["msg"] == "import finished" {
				records++
				if s, ok := rec["summary"].(map[string]any); !ok || s["outcome"] != "done" || s["rows_read"] != float64(1) {
					t.Errorf("summary record %v", rec)
				}
			}
		}
		if records != 1 {
			t.Errorf("%d summary records in:\n%s", records, stderr)
		}

		for _, tc := range []struct {
			name string
			args []string
			want int
		}{
			{"bad flag", []string{"--json", "--nope"}, exitUsage},
			{"no files", []string{"--json"}, exitUsage},
			{"database unreachable", []string{"--json", "--retries", "1", "--db",
				"postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", good}, exitFailed},
		} {
			code, stdout, _ := call(append(tc.args, base...)...)
			var v map[string]string
			if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != tc.want || v["outcome"] != "failed" || v["error"] == "" {
				t.Errorf("%s: exit %d, stdout %q", tc.name, code, stdout)
			}
		}
	})
}

// TestVersion: --version prints the build's version on stdout.
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, strings.NewReader(""), &out, &errb); code != 0 ||
		!strings.HasPrefix(out.String(), "import (tokenevents) ") {
		t.Errorf("exit %d: %q %q", code, out.String(), errb.String())
	}
}

// TestConfigurationErrors: a database that does not exist, a role the
// server refuses, or a URL that cannot be parsed is exit 2, not 1.
func TestConfigurationErrors(t *testing.T) {
	base := testdb.BaseDSN()
	testdb.New(t) // fails in CI, skips elsewhere, without a server
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
	for _, dsn := range []string{
		strings.Replace(base, "/postgres?", "/no_such_database_here?", 1),
		strings.Replace(base, "postgres@", "no_such_role@", 1),
		"postgres://%zz",
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"--db", dsn, "--account", "P00000001", "--event", "e", good},
			strings.NewReader(""), &out, &errb)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d: %s", dsn, code, exitUsage, errb.String())
		}
	}
}

// TestLockTimeout: a second import waits for the first at most
// --lock-timeout, then exits 4 having written nothing.
func TestLockTimeout(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
		holder := teststore.Open(t, dsn)
		runID, err := holder.StartImport(context.Background(), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		db := testdb.Open(t, dsn)
		for _, wait := range []string{"0", "300ms"} {
			start := time.Now()
			r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--lock-timeout", wait, good)
			if r.code != exitLocked || !strings.Contains(r.stderr, "another run holds the lock") {
				t.Errorf("--lock-timeout %s: exit %d, want %d:\n%s", wait, r.code, exitLocked, r.stderr)
			}
			if wait == "300ms" && time.Since(start) < 300*time.Millisecond {
				t.Errorf("gave up after %v", time.Since(start))
			}
			if n := testdb.Count(t, db, `SELECT count(*) FROM import_runs`); n != 1 {
				t.Errorf("--lock-timeout %s: %d runs recorded, want only the holder's", wait, n)
			}
		}
		if err := holder.FinishImport(context.Background(), runID, "done", []byte(`{}`), time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--lock-timeout", "10s", good); r.code != 0 {
			t.Errorf("after the holder finished: exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestHelp: -h goes to stdout, grouped, with examples and the environment
// variables read; exit 0.
func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, strings.NewReader(""), &out, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	for _, want := range []string{"usage: import", "\nDatabase:\n", "\nRejected rows:\n", "--lock-timeout DURATION", "\nExamples:\n",
		"\nEnvironment:\n", "DATABASE_URL", "PGHOST"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\nOther:\n") {
		t.Errorf("a flag is in no group:\n%s", out.String())
	}
}

// TestRunsHistory: import runs lists past imports, newest first, as text
// or JSON, without SQL.
func TestRunsHistory(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
		for range 2 {
			if r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--force", good); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
		}
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"runs", "--db", dsn, "--json", "--last", "1"}, nil, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var runs []struct {
			ID      int64 `json:"id"`
			Outcome string
			Summary struct {
				RowsRead  int64 `json:"rows_read"`
				EventsNew int64 `json:"events_new"`
			}
			Files []struct{ Name string }
		}
		if err := json.Unmarshal(out.Bytes(), &runs); err != nil || len(runs) != 1 || runs[0].ID != 2 || runs[0].Outcome != "done" ||
			runs[0].Summary.RowsRead != 1 || len(runs[0].Files) != 1 {
			t.Errorf("--json: %v %s", err, out.String())
		}
		out.Reset()
		if code := run(context.Background(), []string{"runs", "--db", dsn}, nil, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "rows read") || !strings.HasPrefix(strings.TrimSpace(lines[1]), "2 ") {
			t.Errorf("text:\n%s", out.String())
		}
	})
}
