package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/internal/teststore"
	"github.com/tokenevents/tokenevents/pipeline"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// seed loads two events through SQL the way an import leaves them.
func seed(t *testing.T, dsn string) {
	t.Helper()
	if code, _, stderr := runCmd(t, "--db", dsn, "--as-of", "2024-01-01"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	db := testdb.Open(t, dsn)
	for _, q := range []string{
		`INSERT INTO tokens (account_id, token_type, token_value) VALUES
			('P00000001', 'sha1:email', '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881'),
			('P00000001', 'sha1:phone_number', 'c0d9e96a9e795819d4aeecdb7a04963d62273248')`,
		`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id) VALUES
			('P00000001', 'sha1:phone_number', 'c0d9e96a9e795819d4aeecdb7a04963d62273248', 'till', '2024-03-01', 'OPT_OUT', 0)`,
		// the hash of +4791234567
		`INSERT INTO tokens (account_id, token_type, token_value) VALUES ('P00000001', 'sha1:phone_number', '15889e7ff1a3f6e2cd529123025dc7eb19f2b026')`,
		`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id) VALUES
			('P00000001', 'sha1:phone_number', '15889e7ff1a3f6e2cd529123025dc7eb19f2b026', 'till', '2024-03-02', 'OPT_IN', 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReconcileCommand(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		code, stdout, stderr := runCmd(t, "--db", dsn, "--as-of", "2024-06-01T00:00:00Z", "--report", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "account_id,token_type,token_value,token_id,previous_status,status,decided_by,event,event_created_at,event_expires_at,as_of") {
			t.Errorf("report on stdout:\n%s", stdout)
		}
		if !strings.Contains(stderr, "UNKNOWN→OPT_OUT: 1") || !strings.Contains(stderr, "UNKNOWN→OPT_IN: 1") {
			t.Errorf("summary lacks transitions:\n%s", stderr)
		}

		code, stdout, stderr = runCmd(t, "--db", dsn, "--as-of", "2024-06-01T00:00:00Z", "--json", "--full")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var sum struct {
			Examined int64 `json:"examined"`
			Changed  int64 `json:"changed"`
			Full     bool  `json:"full"`
		}
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Examined != 3 || sum.Changed != 0 || !sum.Full {
			t.Errorf("--json summary %q: %+v %v", stdout, sum, err)
		}

		report := filepath.Join(t.TempDir(), "r.parquet")
		if code, _, stderr = runCmd(t, "--db", dsn, "--as-of", "2024-06-01", "--report", report); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if fi, err := os.Stat(report); err != nil || fi.Size() == 0 {
			t.Errorf("parquet report not written: %v", err)
		}
	})
}

func TestReconcileUsageErrors(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		for _, args := range [][]string{
			{"--account", "X1"},
			{"--report", "out.xlsx"},
			{"--as-of", "yesterday"},
			{"--json", "--report", "-"},
			{"extra"},
			{"lookup", "--account", "P00000001"},
			{"lookup", "--account", "P00000001", "--email", "a@b.no", "--phone", "91234567"},
			{"lookup", "--account", "P00000001", "--email", "not-an-address"},
			{"lookup", "--email", "a@b.no"},
		} {
			code, _, stderr := runCmd(t, append([]string{"--db", dsn}, args...)...)
			if args[0] == "lookup" {
				code, _, stderr = runCmd(t, append([]string{"lookup", "--db", dsn}, args[1:]...)...)
			}
			if code != 2 {
				t.Errorf("%q: exit %d, want 2: %s", args, code, stderr)
			}
			if strings.Contains(stderr, "not-an-address") {
				t.Errorf("%q: the plain identifier reached stderr: %s", args, stderr)
			}
		}
		// A report path that cannot be written is named as given (not by
		// the temporary file beside it), before anything is computed.
		for _, path := range []string{"/proc/x.csv", filepath.Join(t.TempDir(), "missing", "r.jsonl")} {
			code, _, stderr := runCmd(t, "--db", dsn, "--report", path)
			if code != 2 || !strings.Contains(stderr, "--report "+path+": cannot write there") {
				t.Errorf("--report %s: exit %d, want 2 naming the path:\n%s", path, code, stderr)
			}
		}
		if code, _, _ := runCmd(t, "--db", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", "--retries", "1", "--as-of", "2024-01-01"); code != 1 {
			t.Errorf("unreachable database: exit %d, want 1", code)
		}
	})
}

func TestLookupCommand(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		code, stdout, stderr := runCmd(t, "lookup", "--db", dsn, "--account", "P00000001", "--phone", "+47 912 34 567", "--as-of", "2024-06-01")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		if resp["status"] != "OPT_IN" || resp["token"].(map[string]any)["type"] != "sha1:phone_number" || len(resp["events"].([]any)) != 1 {
			t.Errorf("lookup: %s", stdout)
		}
		if strings.Contains(stdout+stderr, "912 34") || strings.Contains(stdout+stderr, "91234567") {
			t.Errorf("the plain phone number was printed:\n%s%s", stdout, stderr)
		}
	})
}

// TestQuietJSONVersion: -q prints nothing on success, --json prints one
// JSON object also when the run fails before it starts, --version prints
// the build.
func TestQuietJSONVersion(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		if code, stdout, stderr := runCmd(t, "--db", dsn, "-q", "--as-of", "2024-06-01"); code != 0 || stdout != "" || stderr != "" {
			t.Errorf("-q: exit %d, %q, %q", code, stdout, stderr)
		}
		for _, args := range [][]string{{"--json", "--nope"}, {"--json", "--db", "postgres://%zz"},
			{"--json", "--retries", "1", "--db", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}} {
			code, stdout, _ := runCmd(t, args...)
			var v map[string]string
			if err := json.Unmarshal([]byte(stdout), &v); err != nil || code == 0 || v["outcome"] != "failed" || v["error"] == "" {
				t.Errorf("%q: exit %d, stdout %q", args, code, stdout)
			}
		}
	})
	if code, stdout, _ := runCmd(t, "--version"); code != 0 || !strings.HasPrefix(stdout, "reconcile (tokenevents) ") {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
}

// TestReconcileLockTimeout: a reconcile of accounts another reconcile
// holds exits 4 past --lock-timeout, having written nothing.
func TestReconcileLockTimeout(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		holder := teststore.Open(t, dsn)
		if _, err := holder.StartReconcile(context.Background(), []string{"P00000001"},
			tokenevents.ReconcileOptions{AsOf: time.Now()}); err != nil {
			t.Fatal(err)
		}
		runs := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM reconcile_runs`)
		code, _, stderr := runCmd(t, "--db", dsn, "--account", "P00000001", "--lock-timeout", "0", "--as-of", "2024-06-01")
		if code != exitLocked || !strings.Contains(stderr, "another run holds the lock") {
			t.Errorf("exit %d, want %d:\n%s", code, exitLocked, stderr)
		}
		if n := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM reconcile_runs`); n != runs {
			t.Errorf("%d reconcile runs recorded, want %d", n, runs)
		}
	})
}

// TestHelp: -h of reconcile and of reconcile lookup go to stdout, each
// describing its own command, with groups, examples and the environment.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{{[]string{"-h"}, "usage: reconcile [flags]"}, {[]string{"lookup", "-h"}, "usage: reconcile lookup"}} {
		code, stdout, stderr := runCmd(t, tc.args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", tc.args, code, stderr, stdout)
		}
		for _, want := range []string{"\nExamples:\n", "\nEnvironment:\n", "DATABASE_URL"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%q: help lacks %q", tc.args, want)
			}
		}
		if strings.Contains(stdout, "\nOther:\n") {
			t.Errorf("%q: a flag is in no group:\n%s", tc.args, stdout)
		}
	}
}

// TestRunsHistory: reconcile runs lists past reconciles, newest first.
func TestRunsHistory(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		if code, _, stderr := runCmd(t, "--db", dsn, "--as-of", "2024-06-01", "--full"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		code, stdout, stderr := runCmd(t, "runs", "--db", dsn, "--json")
		var runs []struct {
			ID          int64            `json:"id"`
			Full        bool             `json:"full"`
			Changed     int64            `json:"changed"`
			Transitions map[string]int64 `json:"transitions"`
			Outcome     string           `json:"outcome"`
		}
		if err := json.Unmarshal([]byte(stdout), &runs); code != 0 || err != nil || len(runs) != 2 || !runs[0].Full ||
			runs[0].Outcome != "done" || runs[0].Transitions["UNKNOWN→OPT_OUT"] != 1 {
			t.Errorf("exit %d, %v: %s %s", code, err, stdout, stderr)
		}
		code, stdout, _ = runCmd(t, "runs", "--db", dsn, "--last", "1")
		if lines := strings.Split(strings.TrimSpace(stdout), "\n"); code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "full") {
			t.Errorf("text: exit %d\n%s", code, stdout)
		}
	})
}

// TestIncrementalFallsBackToFull: when most of an account's tokens changed
// since the last reconcile, the incremental run takes the full plan (it is
// never slower than --full) and stores what --full would.
func TestIncrementalFallsBackToFull(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		if code, _, stderr := runCmd(t, "--db", dsn, "--as-of", "2024-06-01"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		db := testdb.Open(t, dsn)
		// Both tokens with events change (2 of the account's 3 tokens).
		in := filepath.Join(t.TempDir(), "paused.csv")
		if err := os.WriteFile(in, []byte("token_type,token_value,event,created_at,status\n"+
			"sha1:phone_number,c0d9e96a9e795819d4aeecdb7a04963d62273248,till,2024-04-01,PAUSED\n"+
			"sha1:phone_number,15889e7ff1a3f6e2cd529123025dc7eb19f2b026,till,2024-04-02,PAUSED\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if sum, err := teststore.Import(t, teststore.Open(t, dsn), pipeline.Options{Account: "P00000001"}, in); err != nil || sum.EventsNew != 2 {
			t.Fatalf("import: %+v %v", sum, err)
		}
		code, _, stderr := runCmd(t, "--db", dsn, "--as-of", "2024-06-01", "--log-level", "info")
		if code != 0 || !strings.Contains(stderr, "most tokens changed since the last reconcile") {
			t.Errorf("exit %d, no fallback:\n%s", code, stderr)
		}
		if got := testdb.DumpStatuses(t, db); !strings.Contains(strings.Join(got, "\n"), "|PAUSED|event|") {
			t.Errorf("statuses after the fallback: %v", got)
		}
		if code, stdout, _ := runCmd(t, "--db", dsn, "--as-of", "2024-06-01", "--full", "--report", "-"); code != 0 ||
			len(strings.Split(strings.TrimSpace(stdout), "\n")) != 1 {
			t.Errorf("--full after the fallback still found changes:\n%s", stdout)
		}
	})
}
